"""Stdio serving that answers every request, even one the SDK cannot parse, and stops when told.

The SDK parses each line with pydantic-core, whose JSON parser stops at about 200 levels of
nesting; the SDK then drops the line silently and the host waits forever for the answer. This
reader finds such lines first and answers them with a JSON-RPC error naming the problem.

The SDK also reads stdin in a worker thread that the event loop waits on: a read blocked on an
open stdin can be neither cancelled nor left behind, so SIGTERM and Ctrl-C did nothing until the
host closed stdin (older hosts never do; they wait for the process). Here stdin is read by a
daemon thread (`StdinLines`), and a signal ends the input as if stdin had closed (`StopOnSignals`):
the SDK cancels the requests in flight, the lifespan closes the database and the index, and the
process exits. A second signal, or shutdown work still running after `SHUTDOWN_SECONDS`, exits at
once: every acknowledged write is committed already, and the index catches up at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import FrameType
from typing import Any

from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ErrorData, JSONRPCError

log = logging.getLogger(__name__)

#: Deeper than this is refused here, safely below the parser's own limit.
MAX_DEPTH = 128
INVALID_REQUEST = -32600
_ID_VALUE = re.compile(r'\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)')


def nesting(line: str) -> tuple[int, str | int | None]:
    """The deepest nesting of a JSON text, and its top-level "id" if it has one."""
    if line.count("{") + line.count("[") <= MAX_DEPTH:  # the common case, decided in C
        return 0, None
    depth = deepest = 0
    in_string = escaped = False
    key_start = -1
    msg_id: str | int | None = None
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1 and msg_id is None and line[key_start:i] == "id":
                    m = _ID_VALUE.match(line, i + 1)
                    if m:
                        raw = m.group(1)
                        msg_id = raw[1:-1] if raw.startswith('"') else int(raw)
        elif ch == '"':
            in_string, key_start = True, i + 1
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest, msg_id


class GuardedStdin:
    """Lines from stdin, less the ones too deep to parse, which are answered on `answer`."""

    def __init__(self, lines: Any) -> None:
        self.lines = lines
        self.answer: Any = None  # the server's write stream, set once serving starts

    def __aiter__(self) -> AsyncIterator[str]:
        return self._read()

    async def _read(self) -> AsyncIterator[str]:
        async for line in self.lines:
            deepest, msg_id = nesting(line)
            if deepest <= MAX_DEPTH:
                yield line
                continue
            if msg_id is not None and self.answer is not None:
                error = ErrorData(
                    code=INVALID_REQUEST,
                    message=f"the request is nested {deepest} levels deep; at most {MAX_DEPTH} are accepted",
                )
                await self.answer.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=msg_id, error=error)))


#: Lines read ahead of the server (the reader thread waits when this many are unread).
READ_AHEAD = 16
#: After the first signal, the process exits this long later whatever is still running.
SHUTDOWN_SECONDS = 1.5


class StdinLines:
    """The lines of a file descriptor, read by a daemon thread and handed to the event loop.

    Nothing waits on the reading thread: `end()` ends the lines at once, and the process can exit
    with the thread still blocked in a read. It reads the descriptor with `os.read`, holding no
    lock of `sys.stdin`'s that the interpreter would need at exit.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._room = threading.Semaphore(READ_AHEAD)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ended = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="langmem-stdin", daemon=True).start()

    def _read(self) -> None:
        assert self._loop is not None
        try:
            for line in _split_lines(self._fd):
                self._room.acquire()
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except OSError as exc:
            log.warning("reading stdin failed (%s); stopping", exc)
        finally:
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
            except RuntimeError:  # the loop is closed: nothing is reading any more
                pass

    def end(self) -> None:
        """End the lines now, as if the stream had closed (the server then shuts down)."""
        self.ended = True
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        while True:
            line = await self._queue.get()
            if line is None or self.ended:
                return
            self._room.release()
            yield line


def _split_lines(fd: int, chunk: int = 1 << 16) -> Iterator[str]:
    """Newline-terminated lines of fd (the last one may lack it), as UTF-8 text."""
    pending = b""
    while data := os.read(fd, chunk):
        pending += data
        if b"\n" not in data:
            continue
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            yield raw.decode("utf-8", errors="replace") + "\n"
    if pending:
        yield pending.decode("utf-8", errors="replace")


class StopOnSignals:
    """SIGTERM and SIGINT stop a stdio server: the first ends its input (a clean shutdown, with
    `SHUTDOWN_SECONDS` to finish), a second one exits at once.

    Plain `signal.signal` handlers, not the event loop's: they also work before the loop starts
    and after it stops (while the interpreter waits for worker threads at exit).
    """

    def __init__(self, deadline: float = SHUTDOWN_SECONDS) -> None:
        self.deadline = deadline
        self._loop: asyncio.AbstractEventLoop | None = None
        self._end: Callable[[], None] | None = None
        self.stopping: int | None = None  # the first signal's number

    def install(self) -> None:
        for name in ("SIGTERM", "SIGINT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self._on_signal)

    def attach(self, end: Callable[[], None]) -> None:
        """From the running loop: what the first signal calls (in the loop) to stop serving."""
        self._loop = asyncio.get_running_loop()
        self._end = end

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        loop = self._loop
        if self.stopping is not None:
            self._exit_now(128 + signum, f"{name} again: exiting now")
            return
        if loop is None or loop.is_closed() or self._end is None:
            self._exit_now(0, f"{name}: exiting (nothing open yet, or everything closed already)")
            return
        self.stopping = signum
        log.info("%s: stopping (requests in flight are cancelled, then the database is closed)", name)
        timer = threading.Timer(self.deadline, self._overdue)
        timer.daemon = True
        timer.start()
        loop.call_soon_threadsafe(self._end)

    def _overdue(self) -> None:
        busy = sorted(t.name for t in threading.enumerate() if t.is_alive() and not t.daemon)
        self._exit_now(
            0,
            f"still shutting down {self.deadline:g} s after the signal (busy: {', '.join(busy) or 'nothing'}); "
            "exiting now. Acknowledged writes are committed; the index catches up at the next start",
        )

    def _exit_now(self, status: int, why: str) -> None:
        log.warning(why)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


async def run_stdio(mcp: Any, stop: StopOnSignals | None = None) -> None:
    """MCPServer.run_stdio_async, reading through GuardedStdin from a daemon thread; `stop` (its
    handlers installed) ends the input on the first signal."""
    lines = StdinLines(os.dup(sys.stdin.fileno()))
    lines.start()
    if stop is not None:
        stop.attach(lines.end)
    stdin = GuardedStdin(lines)
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):  # type: ignore[arg-type]
        stdin.answer = write_stream
        server = mcp._lowlevel_server
        await server.run(read_stream, write_stream, server.create_initialization_options())
    log.info("stopped; data committed and closed")
