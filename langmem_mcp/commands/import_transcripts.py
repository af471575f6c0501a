"""`langmem-mcp import-transcripts [PATHS…]`: import past sessions as the capture hooks store them.

Default: every Claude Code session under ``~/.claude/projects/`` (``$CLAUDE_CONFIG_DIR/projects``).
PATHS may be files or folders (read recursively): Claude Code session JSONL, Codex CLI rollouts
(``~/.codex/sessions/``), or JSON lists of OpenAI-style messages. Each session becomes a thread with
the same message ids the hooks give it, and its turns conversation memories of its project, so
importing twice, or importing what the hooks already captured, stores nothing twice. A malformed line
is reported with its file and line number and skipped; the rest is imported.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings

NAME = "import-transcripts"
HELP = "import past Claude Code / Codex / OpenAI-format sessions (default: ~/.claude/projects)"
SUFFIXES = (".jsonl", ".json")
#: Waiting on another process to store the queue, give up after this long without progress.
STALL_SECONDS = 120.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", help="transcript files or folders (default: ~/.claude/projects)")
    p.add_argument("--dry-run", action="store_true", help="show what would be imported; write nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def default_roots() -> list[Path]:
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return [(Path(base).expanduser() if base else Path.home() / ".claude") / "projects"]


def transcript_files(paths: list[Path]) -> Iterator[Path]:
    """The transcripts under ``paths``, each once, in a stable order. Subagents' transcripts (all
    side-chain lines, none of them the conversation) are skipped."""
    seen: set[Path] = set()
    for root in paths:
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES)
        for path in found:
            resolved = path.resolve()
            if resolved in seen or "subagents" in path.parts or not path.is_file():
                continue
            seen.add(resolved)
            yield path


def run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.commands.import_ import Bar

    roots = [Path(p).expanduser() for p in args.paths] or default_roots()
    missing = [str(p) for p in roots if not p.exists()]
    if missing and args.paths:
        print(f"langmem-mcp import-transcripts: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = list(transcript_files([p for p in roots if p.exists()]))
    if not files:
        print(f"no transcripts found under {', '.join(map(str, roots))}", file=sys.stderr)
        return 0
    if args.dry_run:
        return _dry_run(settings, files)
    bar = Bar(len(files), enabled=not args.quiet)
    report = _accept_all(settings, files, bar)
    bar.close()
    for line in report["problems"]:
        print(line, file=sys.stderr)
    stored = _store(settings, report["jobs"], args.quiet)
    print(
        f"imported {report['turns']} new turns from {report['sessions']} sessions in {len(files)} files; "
        f"{stored} jobs stored; {len(report['problems'])} malformed lines skipped",
        file=sys.stderr,
    )
    return 0


def _accept_all(settings: Settings, files: list[Path], bar: Any) -> dict[str, Any]:
    from langmem_mcp.service.capture_accept import accept
    from langmem_mcp.store import capture as store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn = store.open_migrated(settings.db_path, 10_000)
    report: dict[str, Any] = {"turns": 0, "sessions": 0, "jobs": 0, "problems": []}
    try:
        for path in files:
            done = accept(conn, path, event="import", summarize=True, final=True, max_bytes=None)
            report["turns"] += done.turns
            report["sessions"] += done.turns > 0
            report["jobs"] += done.job is not None
            report["problems"] += [f"{p.path}:{p.line}: {p.reason}" for p in done.problems]
            bar(1)
    finally:
        conn.close()
    return report


def _store(settings: Settings, jobs: int, quiet: bool) -> int:
    """Store the queue here or, when another process holds it (a running server, a capture
    worker), wait while that process stores it."""
    import asyncio

    from langmem_mcp.commands.import_ import Bar
    from langmem_mcp.service.capture_accept import queue_lock
    from langmem_mcp.service.container import open_services

    if not jobs:
        return 0
    lock = queue_lock(settings.data_dir)
    if not lock.try_acquire():
        return _wait_for(settings, jobs, quiet)
    bar = Bar(jobs, enabled=not quiet)

    async def drain() -> int:
        async with open_services(settings) as services:
            return await services.capture.drain(progress=bar)

    try:
        return asyncio.run(drain())
    finally:
        lock.release()
        bar.close()


def _wait_for(settings: Settings, jobs: int, quiet: bool) -> int:
    import time

    from langmem_mcp.commands.import_ import Bar
    from langmem_mcp.store import capture as store

    print(
        "another langmem-mcp process (a server, or a capture worker) stores the queue; waiting for it "
        "(Ctrl-C leaves the rest queued: it is stored all the same)",
        file=sys.stderr,
    )
    bar = Bar(jobs, enabled=not quiet)
    conn = store.connect(settings.db_path, 10_000)

    def left() -> int:  # a job that failed waits for its retry: doctor shows it
        state = store.queue_state(conn)
        return state.waiting - state.failing

    try:
        before, moved = left(), time.monotonic()
        while before:
            time.sleep(0.5)
            now = left()
            if now < before:
                bar(before - now)
                moved = time.monotonic()
            elif time.monotonic() - moved > STALL_SECONDS:
                print(
                    f"\nno progress for {STALL_SECONDS:.0f} s: {now} jobs stay queued (see doctor)",
                    file=sys.stderr,
                )
                return jobs - now
            before = now
    finally:
        conn.close()
        bar.close()
    return jobs


def _dry_run(settings: Settings, files: list[Path]) -> int:
    """What each file would add (past what was imported or captured already); writes nothing."""
    from langmem_mcp.engine import transcripts
    from langmem_mcp.engine.projects import project_name
    from langmem_mcp.store import capture as store

    conn = None
    if settings.db_path.exists():
        try:
            conn = store.connect(settings.db_path, 10_000)
        except store.SchemaNotReady:  # nothing was captured into this older data dir
            conn = None
    total = 0
    for path in files:
        session = store.get_session(conn, str(path.absolute())) if conn is not None else None
        start = transcripts.Watermark.from_json(session.watermark) if session else None
        result = transcripts.parse_file(path, start, final=True)
        where = result.watermark.cwd
        project = project_name(where) or "-"
        total += len(result.turns)
        print(
            f"{path}: {result.format or 'unknown format'}, session {result.session_id or '-'}, "
            f"project {project}: {len(result.turns)} new turns"
            + (f", {len(result.problems)} malformed lines" if result.problems else "")
        )
        for p in result.problems:
            print(f"  {p.path}:{p.line}: {p.reason}")
    if conn is not None:
        conn.close()
    print(f"would import {total} turns from {len(files)} files (dry run: nothing written)")
    return 0
