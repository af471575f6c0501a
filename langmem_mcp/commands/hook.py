"""`langmem-mcp hook EVENT`: a Claude Code hook. Reads the event's JSON on stdin, answers on stdout.

- ``session-start``: prints the context block (what is known about the user, the project's most
  important memories, the last session's summary, how much waits to be distilled) as
  ``hookSpecificOutput.additionalContext``; nothing when nothing is known.
- ``user-prompt-submit``: the few memories the prompt bears on (most prompts get none). With a
  server running on the data dir, its index owner answers over the local socket with the loaded
  model; else keywords alone (SQLite FTS5) decide.
- ``stop``, ``pre-compact``, ``session-end``: accept what the transcript gained into the durable
  queue (SQLite) and return; the server, or a detached worker (``hook --worker``), stores it.

A hook blocks its host, so this module is reached without loading the other commands (see
`cli.main`) and imports only the standard library and a few light modules; no model, no MCP, no
Chroma. It never fails the host's action: on any error it prints nothing, exits 0, and records
the error where `langmem-mcp doctor` shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from langmem_mcp.config import Settings

NAME = "hook"
HELP = "run a Claude Code hook (reads the event's JSON on stdin; see `install claude-code --hooks`)"

#: Command-line names of the events, as Claude Code names them.
EVENTS = {
    "session-start": "SessionStart",
    "user-prompt-submit": "UserPromptSubmit",
    "stop": "Stop",
    "pre-compact": "PreCompact",
    "session-end": "SessionEnd",
}
INGEST = {"Stop": False, "PreCompact": True, "SessionEnd": True}  # event → make the summary
#: How long the hook waits for SQLite's lock, and for a running server's prompt recall.
BUSY_TIMEOUT_MS = 2000
OWNER_TIMEOUT_SECONDS = 0.5
#: A worker started at the end of a session waits this long for a server to let go of the queue.
WORKER_WAIT_SECONDS = 120.0
#: Catch-up at session start looks at this many recent sessions of the project.
CATCH_UP_SESSIONS = 5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "event",
        nargs="?",
        help=f"the hook event: {', '.join(EVENTS)} (default: hook_event_name from stdin; others do nothing)",
    )
    p.add_argument(
        "--worker", action="store_true", help="store the queued captures, then exit (started by hooks)"
    )
    p.add_argument(
        "--wait", action="store_true", help="--worker: wait for a running server to let go of the queue"
    )


class _Parser(argparse.ArgumentParser):
    """Bad arguments are the hook's problem, never the host's: no usage on stderr, no exit 2 (which
    would block the user's prompt in UserPromptSubmit)."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def main(argv: Sequence[str]) -> int:
    """The fast entry from `cli.main`: `langmem-mcp hook EVENT [--data-dir DIR]`."""
    from langmem_mcp.config import load_settings

    parser = _Parser(prog="langmem-mcp hook", description=HELP)
    add_arguments(parser)
    parser.add_argument("--data-dir", help="where memories live (env LANGMEM_MCP_DATA_DIR)")
    try:
        args = parser.parse_args(argv)
    except ValueError as exc:
        _record(None, "hook", f"bad arguments {list(argv)}: {exc}")
        return 0
    try:
        data_dir = Path(args.data_dir).expanduser().absolute() if args.data_dir else None
        settings = load_settings(data_dir=data_dir)
    except ValueError as exc:  # a bad LANGMEM_MCP_* value: recorded, never the host's problem
        if args.worker:
            return 1
        _record(None, args.event or "hook", f"bad settings: {exc}")
        return 0
    return run(args, settings)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.worker:
        return worker(settings, wait=args.wait)
    handle(getattr(args, "event", None), sys.stdin, sys.stdout, settings)
    return 0


# -- one event -------------------------------------------------------------------------------------


def handle(event_arg: str | None, stdin: IO[str], stdout: IO[str], settings: Settings) -> None:
    """Answer one event; anything that goes wrong is recorded, and nothing is printed."""
    name = EVENTS.get(event_arg or "", event_arg or "hook")
    payload: dict[str, Any] = {}
    try:
        payload = json.loads(stdin.read() or "{}")
        if not isinstance(payload, dict):
            raise ValueError(f"the hook's input is a JSON {type(payload).__name__}, not an object")
        name = str(payload.get("hook_event_name") or name)
        context = dispatch(name, payload, settings)
    except Exception as exc:  # noqa: BLE001 - a hook never fails its host
        _record(settings, name, f"{type(exc).__name__}: {exc}", traceback.format_exc(), payload)
        return
    if context:
        answer = {"hookSpecificOutput": {"hookEventName": name, "additionalContext": context}}
        stdout.write(json.dumps(answer, ensure_ascii=False))
        stdout.flush()


def _record(settings: Settings | None, event: str, error: str, detail: str = "", payload: Any = None) -> None:
    from langmem_mcp.config import default_data_dir
    from langmem_mcp.service import capture_log

    payload = payload if isinstance(payload, dict) else {}
    if settings is not None:
        data_dir = settings.data_dir
    else:  # the settings themselves were wrong: the data dir as the environment names it
        data_dir = Path(os.environ.get("LANGMEM_MCP_DATA_DIR") or default_data_dir()).expanduser()
    capture_log.record(data_dir, event, error, detail, session_id=payload.get("session_id"))


def dispatch(name: str, payload: dict[str, Any], settings: Settings) -> str:
    if name == "SessionStart":
        return session_start(payload, settings)
    if name == "UserPromptSubmit":
        return prompt_submit(payload, settings)
    if name in INGEST:
        ingest(name, payload, settings)
    return ""


def _scope(payload: dict[str, Any], settings: Settings) -> Any:
    from langmem_mcp.engine.projects import project_name
    from langmem_mcp.service.recall import Scope

    return Scope(settings.capture_user, settings.namespace, project_name(payload.get("cwd")))


def _open(settings: Settings, create: bool) -> sqlite3.Connection | None:
    """The database with the capture tables (a new or older one migrated first); None when there
    is none yet and ``create`` is off."""
    from langmem_mcp.store import capture as store

    if not settings.db_path.exists():
        if not create:
            return None
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return store.open_migrated(settings.db_path, BUSY_TIMEOUT_MS)


def session_start(payload: dict[str, Any], settings: Settings) -> str:
    from langmem_mcp.service import recall

    conn = _open(settings, create=False)
    if conn is None:
        return ""
    try:
        scope = _scope(payload, settings)
        if catch_up(conn, scope.project, settings):
            ensure_worker(settings, wait=False)
        return recall.session_context(conn, scope, payload.get("session_id"), settings.session_context_chars)
    finally:
        conn.close()


def catch_up(conn: sqlite3.Connection, project: str | None, settings: Settings) -> int:
    """Accept what earlier sessions of the project wrote after their last hook (a session that
    crashed, or was killed before its SessionEnd hook finished). Returns the jobs queued."""
    from langmem_mcp.service.capture_accept import accept
    from langmem_mcp.store import capture as store

    if not project:
        return 0
    queued = 0
    for session in store.recent_sessions(conn, project, CATCH_UP_SESSIONS):
        path = Path(session.transcript)
        try:
            grew = path.stat().st_size > int(session.watermark.get("offset", 0))
        except OSError:
            continue
        if grew and session.watermark.get("format") != "openai":
            done = accept(conn, path, event="SessionStart", session_id=session.thread_id, summarize=True)
            _report_problems(settings, "SessionStart", done)
            queued += done.job is not None
    return queued


def prompt_submit(payload: dict[str, Any], settings: Settings) -> str:
    from langmem_mcp.service import recall

    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return ""
    scope = _scope(payload, settings)
    session_id = payload.get("session_id")
    hits = _recall_from_owner(settings, scope, prompt, session_id)
    if hits is None:
        conn = _open(settings, create=False)
        if conn is None:
            return ""
        try:
            hits = recall.prompt_recall(conn, scope, prompt, session_id)
        finally:
            conn.close()
    return recall.render_hits(hits)


def _recall_from_owner(settings: Settings, scope: Any, prompt: str, session_id: Any) -> list[Any] | None:
    """The running server's answer (keywords and the loaded model); None when no server answers."""
    if not (settings.data_dir / "owner.json").exists():
        return None
    from langmem_mcp.index.owner import RemoteUnavailable, call_with_deadline
    from langmem_mcp.service.recall import Hit

    try:
        found = call_with_deadline(
            settings.data_dir,
            "recall",
            scope.user_id,
            scope.default_namespace,
            scope.project,
            prompt,
            session_id,
            timeout=OWNER_TIMEOUT_SECONDS,
        )
    except RemoteUnavailable:
        return None
    return [Hit(**h) for h in found]


def ingest(name: str, payload: dict[str, Any], settings: Settings) -> None:
    """Accept the transcript's new lines (and, at the end of a session or before a compaction,
    ask for its summary), then make sure someone stores them."""
    from langmem_mcp.service.capture_accept import accept

    transcript = payload.get("transcript_path")
    if not isinstance(transcript, str) or not transcript:
        raise ValueError(f"the {name} event has no transcript_path")
    conn = _open(settings, create=True)
    assert conn is not None
    try:
        done = accept(
            conn,
            Path(transcript),
            event=name,
            session_id=payload.get("session_id") or None,
            cwd=payload.get("cwd") or None,
            summarize=INGEST[name],
        )
    finally:
        conn.close()
    _report_problems(settings, name, done)
    if done.job is not None or done.more:
        # At the end of a session the server may be stopping with it: a worker waits to take over.
        ensure_worker(settings, wait=name == "SessionEnd")


def _report_problems(settings: Settings, event: str, done: Any) -> None:
    """Unreadable transcript lines are skipped, and said so where doctor looks."""
    for problem in done.problems[:5]:
        _record(
            settings,
            event,
            f"skipped line {problem.line} of {problem.path}: {problem.reason}",
        )


# -- who stores the queue ----------------------------------------------------------------------------


def ensure_worker(settings: Settings, wait: bool) -> None:
    """Start a detached worker unless a serving process holds the queue (``wait``: start one that
    waits for it to let go, in case it is stopping)."""
    from langmem_mcp.service.capture_accept import queue_lock

    if not wait:
        lock = queue_lock(settings.data_dir)
        if not lock.try_acquire():
            return  # a server (or a worker) is on it
        lock.release()
    argv = [sys.executable, "-m", "langmem_mcp", "hook", "--worker", "--data-dir", str(settings.data_dir)]
    if wait:
        argv.append("--wait")
    options: dict[str, Any] = {}
    if os.name == "nt":
        options["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        options["start_new_session"] = True  # outlives the hook, and a host killing the hook's group
    subprocess.Popen(  # noqa: S603 - our own interpreter and module
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the host reads the hook's stdout until it closes
        stderr=subprocess.DEVNULL,
        close_fds=True,
        **options,
    )


def worker(settings: Settings, wait: bool) -> int:
    """Store every queued capture, then exit. One at a time: a process that cannot get the queue's
    lock leaves (with ``wait``, it waits for the lock a while, and leaves as soon as its holder has
    stored the queue)."""
    from langmem_mcp.service.capture_accept import queue_lock
    from langmem_mcp.store import capture as store

    def ready() -> bool:
        conn = _open(settings, create=False)
        if conn is None:
            return False
        try:
            return bool(store.next_jobs(conn, 1))
        finally:
            conn.close()

    lock = queue_lock(settings.data_dir)
    deadline = time.monotonic() + (WORKER_WAIT_SECONDS if wait else 0.0)
    while True:
        while not lock.try_acquire():
            if time.monotonic() >= deadline or not ready():  # timed out, or the holder stored it all
                return 0
            time.sleep(0.25)
        try:
            if ready():
                _store_queue(settings)
        finally:
            lock.release()
        # A hook may have queued a job after the last look and seen the lock held: look again.
        if not ready():
            return 0
        deadline = time.monotonic()


def _store_queue(settings: Settings) -> None:
    import asyncio

    from langmem_mcp.service.container import open_services

    async def drain() -> None:
        async with open_services(settings) as services:
            await services.capture.drain()

    try:
        asyncio.run(drain())
    except Exception as exc:  # noqa: BLE001 - the jobs stay queued
        _record(
            settings,
            "worker",
            f"storing captured turns failed: {type(exc).__name__}: {exc}",
            traceback.format_exc(),
        )
