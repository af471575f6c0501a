"""Accepting what a transcript gained into the durable capture queue.

Runs in the hook process (it blocks the host, so it must take milliseconds) and in
`import-transcripts`. It reads the transcript from the per-transcript watermark on, keeps the
user's prompts and the assistant's text answers (engine.transcripts), redacts them
(engine.redaction: nothing unredacted is ever stored), and commits them as one job together with
the new watermark. Once that transaction commits, the turns are accepted: whatever happens to the
processes that store them, the job stays until they are stored. Nothing before the commit moves the
watermark, so a hook killed half-way leaves its lines for the next one.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langmem_mcp.engine import transcripts
from langmem_mcp.engine.projects import project_name
from langmem_mcp.engine.redaction import PRIVATE_PLACEHOLDER, redact
from langmem_mcp.errors import InvalidInput
from langmem_mcp.service import scoping
from langmem_mcp.store import capture as store

if TYPE_CHECKING:
    from langmem_mcp.index.owner import OwnerLock

#: A hook reads at most this much of a transcript at once (plus the rest of a line cut by it);
#: the rest is accepted by the next hook.
HOOK_MAX_BYTES = 32 * 1024 * 1024
#: Whoever stores the queue holds an OS lock on this file in the data dir: a serving process
#: while it lives, or a worker a hook started.
LOCK_FILE = "capture.lock"


def queue_lock(data_dir: Path) -> OwnerLock:
    from langmem_mcp.index.owner import OwnerLock

    return OwnerLock(data_dir / LOCK_FILE)


def stable_id(raw: str) -> str:
    """An id the threads service stores unchanged: the transcript's own when it is usable (a UUID,
    or a name without '/'), else a UUID derived from it (the same one every time)."""
    try:
        return scoping.entity_id(raw, "id")
    except InvalidInput:
        return str(uuid.uuid5(transcripts.TURN_NAMESPACE, raw))


def _kept(turn: transcripts.Turn) -> dict[str, Any] | None:
    text = redact(turn.text).text
    if not text.replace(PRIVATE_PLACEHOLDER, "").strip():
        return None  # only private spans: nothing of it is kept
    return {
        "id": stable_id(turn.id),
        "role": turn.role,
        "text": text,
        "timestamp": turn.timestamp,
        "line": turn.line,
    }


@dataclass
class Accepted:
    """What one call accepted from a transcript."""

    transcript: str
    thread_id: str | None = None
    project: str = ""
    format: str | None = None
    turns: int = 0
    job: int | None = None
    problems: list[transcripts.Problem] = field(default_factory=list)
    more: bool = False  # the read stopped at its size limit: more is left for the next call


def _read(path: Path, start: transcripts.Watermark, max_bytes: int | None) -> tuple[bytes, bool]:
    """The transcript's bytes after the watermark (a JSON document whole), at most about
    ``max_bytes`` of them, cut after a line end; and whether more was left."""
    with open(path, "rb") as f:
        fmt = start.format or (transcripts.sniff(f.read(4096)) if start.offset == 0 else None)
        if fmt == "openai":
            f.seek(0)
            return f.read(), False
        f.seek(start.offset)
        if max_bytes is None:
            return f.read(), False
        data = f.read(max_bytes)
        if len(data) < max_bytes:
            return data, False
        rest = f.readline()  # finish the line the limit cut
        return data + rest, bool(f.read(1))


def accept(
    conn: sqlite3.Connection,
    path: str | Path,
    *,
    event: str,
    session_id: str | None = None,
    cwd: str | None = None,
    summarize: bool = False,
    final: bool = False,
    source: str = "claude-code",
    max_bytes: int | None = HOOK_MAX_BYTES,
) -> Accepted:
    """Queue what ``path`` gained since its watermark (and, with ``summarize``, a summary if turns
    came in since the last one was asked for), in one transaction. ``session_id`` (a hook's) names the thread; otherwise the transcript does.
    ``final``: the file is complete, so an unterminated last line is parsed (or reported) too."""
    path = Path(path).absolute()
    key = str(path)
    out = Accepted(key)
    with store.Transaction(conn):
        session = store.get_session(conn, key)
        start = transcripts.Watermark.from_json(session.watermark) if session else transcripts.Watermark()
        if not path.is_file():
            if session is None:
                return out  # nothing read yet, nothing to summarise
            result = transcripts.ParseResult(watermark=start)
        else:
            if start.format != "openai" and path.stat().st_size < start.offset:
                start = transcripts.Watermark(format=start.format)  # replaced or rewritten: from the top
            data, out.more = _read(path, start, max_bytes)
            result = transcripts.parse(data, path=key, start=start, session_id=session_id, final=final)
        out.problems = result.problems
        out.format = result.format
        kept = [k for k in map(_kept, result.turns) if k is not None]
        thread = session_id or result.session_id or (session.thread_id if session else None)
        if thread is None:
            return out  # no conversation found in it (yet)
        out.thread_id = stable_id(thread)
        where = cwd or result.watermark.cwd or (session.cwd if session else None)
        out.project = project_name(where) or (session.project if session else "")
        out.turns = len(kept)
        out.job = store.save_job(
            conn,
            store.NewJob(
                transcript=key,
                thread_id=out.thread_id,
                project=out.project,
                cwd=where,
                source=result.format or source,
                event=event,
                turns=kept,
                watermark=result.watermark.to_json(),
                # a summary is made when the session has turns no summary has covered yet
                summarize=summarize
                and (session.accepted if session else 0) + len(kept) > (session.summarized if session else 0),
            ),
        )
    return out
