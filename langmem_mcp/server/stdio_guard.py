"""Stdio serving that answers every request, even one the SDK cannot parse.

The SDK parses each line with pydantic-core, whose JSON parser stops at about 200 levels of
nesting; the SDK then drops the line silently and the host waits forever for the answer. This
reader finds such lines first and answers them with a JSON-RPC error naming the problem.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ErrorData, JSONRPCError

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


async def run_stdio(mcp: Any) -> None:
    """MCPServer.run_stdio_async, reading through GuardedStdin."""
    stdin = GuardedStdin(
        anyio.wrap_file(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    )
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):  # type: ignore[arg-type]
        stdin.answer = write_stream
        server = mcp._lowlevel_server
        await server.run(read_stream, write_stream, server.create_initialization_options())
