"""Capture state on a plain sqlite3 connection: the durable job queue, what was accepted from each
transcript, and the reads that a session-start context needs.

A hook blocks its host, so this module is what the hook process uses, and it imports nothing but
the standard library: no aiosqlite, no asyncio. The server's capture worker uses the same
functions from a thread, on a connection of its own (SQLite serialises the writers of every
process with its lock and busy timeout).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langmem_mcp.errors import LangmemError

SCHEMA_DIR = Path(__file__).with_name("schema")
#: The schema that added these tables (schema/v011_capture.sql).
CAPTURE_SCHEMA = 11
#: Waits between attempts at BEGIN IMMEDIATE when SQLite answers "locked" without waiting (WAL).
BEGIN_RETRY_DELAYS = tuple(0.01 * k for k in range(1, 20))
#: A failed job waits this long before its next attempt, doubling up to RETRY_MAX_SECONDS.
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0


class SchemaNotReady(LangmemError):
    """The database is older than the capture tables: it must be migrated (store.sqlite) first."""


def known_schema() -> int:
    """The newest schema this install knows: its number of migration files (as store.sqlite counts
    them), without importing the async database layer."""
    return len(list(SCHEMA_DIR.glob("v[0-9][0-9][0-9]_*.sql")))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def connect(db_path: Path, busy_timeout_ms: int = 2000, *, shared: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (``shared``: usable from any thread, one at a time). Raises
    SchemaNotReady when the file lacks the capture tables (a new or older data dir), and refuses a
    file written by a newer version."""
    conn = sqlite3.connect(
        db_path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=not shared
    )
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > known_schema():
            raise LangmemError(
                f"{db_path} was written by a newer langmem-mcp (schema {version}; this one knows up to "
                f"{known_schema()}). Upgrade langmem-mcp; the file was left untouched."
            )
        if version < CAPTURE_SCHEMA:
            raise SchemaNotReady(f"{db_path} is at schema {version}; capture needs {CAPTURE_SCHEMA}")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def open_migrated(db_path: Path, busy_timeout_ms: int = 2000) -> sqlite3.Connection:
    """`connect`, migrating a new or older file first, as a server opening it would (rare for a
    hook: its first run after an install or an upgrade). Creates the file and its folder."""
    try:
        return connect(db_path, busy_timeout_ms)
    except SchemaNotReady:
        pass
    import asyncio

    from langmem_mcp.store.sqlite import Database

    async def migrate() -> None:
        await (await Database.open(db_path)).close()

    asyncio.run(migrate())
    return connect(db_path, busy_timeout_ms)


class Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error), retried while SQLite answers "locked"."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        for delay in (*BEGIN_RETRY_DELAYS, None):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return self.conn
            except sqlite3.OperationalError as exc:
                if delay is None or "locked" not in str(exc):
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


# -- sessions and the queue ----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    transcript: str
    thread_id: str
    project: str
    cwd: str | None
    source: str
    watermark: dict[str, Any]
    accepted: int
    stored: int
    summarized: int
    summary_id: str | None
    created_at: str
    updated_at: str
    stored_at: str | None


_SESSION_COLUMNS = (
    "transcript, thread_id, project, cwd, source, watermark, accepted, stored, summarized, summary_id, "
    "created_at, updated_at, stored_at"
)


def _session(row: Sequence[Any]) -> SessionRow:
    values = list(row)
    values[5] = json.loads(values[5] or "{}")
    return SessionRow(*values)


def get_session(conn: sqlite3.Connection, transcript: str) -> SessionRow | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM capture_sessions WHERE transcript = ?", (transcript,)
    ).fetchone()
    return None if row is None else _session(row)


def sessions_of_thread(conn: sqlite3.Connection, thread_id: str) -> list[SessionRow]:
    rows = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM capture_sessions WHERE thread_id = ?", (thread_id,)
    ).fetchall()
    return [_session(r) for r in rows]


def recent_sessions(
    conn: sqlite3.Connection, project: str, limit: int, exclude_thread: str | None = None
) -> list[SessionRow]:
    """A project's sessions, most recently active first."""
    rows = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM capture_sessions WHERE project = ? AND thread_id IS NOT ? "
        "ORDER BY updated_at DESC LIMIT ?",
        (project, exclude_thread, limit),
    ).fetchall()
    return [_session(r) for r in rows]


@dataclass(frozen=True)
class NewJob:
    """What a hook accepted from a transcript: the turns (already redacted) and the new watermark."""

    transcript: str
    thread_id: str
    project: str
    cwd: str | None
    source: str
    event: str
    turns: list[dict[str, Any]]
    watermark: dict[str, Any]
    summarize: bool


def save_job(conn: sqlite3.Connection, job: NewJob) -> int | None:
    """Inside the caller's transaction: move the transcript's watermark and queue the turns (a job
    is queued only when there are turns or a summary to make). Returns the job's seq."""
    now = now_iso()
    conn.execute(
        "INSERT INTO capture_sessions (transcript, thread_id, project, cwd, source, watermark, accepted,"
        " summarized, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 * ?8, ?9, ?9)"
        " ON CONFLICT(transcript) DO UPDATE SET thread_id = excluded.thread_id,"
        " project = excluded.project, cwd = coalesce(excluded.cwd, capture_sessions.cwd),"
        " watermark = excluded.watermark, accepted = capture_sessions.accepted + excluded.accepted,"
        " summarized = CASE WHEN ?8 THEN capture_sessions.accepted + excluded.accepted"
        " ELSE capture_sessions.summarized END,"
        " updated_at = CASE WHEN excluded.accepted > 0 THEN excluded.updated_at"
        " ELSE capture_sessions.updated_at END",
        (
            job.transcript,
            job.thread_id,
            job.project,
            job.cwd,
            job.source,
            json.dumps(job.watermark),
            len(job.turns),
            int(job.summarize),
            now,
        ),
    )
    if not job.turns and not job.summarize:
        return None
    cur = conn.execute(
        "INSERT INTO capture_jobs (transcript, event, turns, summarize, created_at) VALUES (?, ?, ?, ?, ?)",
        (job.transcript, job.event, json.dumps(job.turns, ensure_ascii=False), int(job.summarize), now),
    )
    return cur.lastrowid


@dataclass(frozen=True)
class JobRow:
    seq: int
    transcript: str
    event: str
    turns: list[dict[str, Any]]
    summarize: bool
    attempts: int
    last_error: str | None
    created_at: str


def next_jobs(conn: sqlite3.Connection, limit: int = 20) -> list[JobRow]:
    """Jobs ready to run: the oldest of each transcript (order matters: a conversation is stored in
    order), unless it failed and waits for its retry time."""
    rows = conn.execute(
        "SELECT j.seq, j.transcript, j.event, j.turns, j.summarize, j.attempts, j.last_error, j.created_at"
        " FROM capture_jobs j WHERE j.seq = (SELECT min(seq) FROM capture_jobs k"
        " WHERE k.transcript = j.transcript) AND (j.retry_at IS NULL OR j.retry_at <= ?)"
        " ORDER BY j.seq LIMIT ?",
        (now_iso(), limit),
    ).fetchall()
    return [JobRow(r[0], r[1], r[2], json.loads(r[3]), bool(r[4]), r[5], r[6], r[7]) for r in rows]


def job_done(conn: sqlite3.Connection, job: JobRow, summary_id: str | None) -> None:
    """The job's turns are stored: drop it, and count them on the session, in one transaction."""
    with Transaction(conn):
        conn.execute("DELETE FROM capture_jobs WHERE seq = ?", (job.seq,))
        conn.execute(
            "UPDATE capture_sessions SET stored = stored + ?, stored_at = ?,"
            " summary_id = coalesce(?, summary_id) WHERE transcript = ?",
            (len(job.turns), now_iso(), summary_id, job.transcript),
        )


def job_failed(conn: sqlite3.Connection, job: JobRow, error: str) -> None:
    """Keep the job with its error; it is retried after a back-off that doubles with each attempt."""
    wait = min(RETRY_BASE_SECONDS * 2**job.attempts, RETRY_MAX_SECONDS)
    retry = (datetime.now(UTC) + timedelta(seconds=wait)).isoformat()
    with Transaction(conn):
        conn.execute(
            "UPDATE capture_jobs SET attempts = attempts + 1, last_error = ?, retry_at = ? WHERE seq = ?",
            (error[:2000], retry, job.seq),
        )


@dataclass(frozen=True)
class QueueState:
    waiting: int
    failing: int
    last_error: str | None
    oldest: str | None
    sessions: int
    last_stored: str | None


def queue_state(conn: sqlite3.Connection) -> QueueState:
    waiting, failing, oldest = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE attempts > 0), min(created_at) FROM capture_jobs"
    ).fetchone()
    error = conn.execute(
        "SELECT last_error FROM capture_jobs WHERE last_error IS NOT NULL ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    sessions, last = conn.execute("SELECT count(*), max(stored_at) FROM capture_sessions").fetchone()
    return QueueState(waiting, failing, error[0] if error else None, oldest, sessions, last)


def session_page(conn: sqlite3.Connection, limit: int, offset: int = 0) -> list[SessionRow]:
    """Captured sessions, most recently active first (the memory browser's captures page)."""
    rows = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM capture_sessions ORDER BY updated_at DESC, transcript"
        " LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()
    return [_session(r) for r in rows]


@dataclass(frozen=True)
class QueuedJob:
    """A job as the queue shows it: its size, not its turns."""

    seq: int
    transcript: str
    event: str
    turns: int
    summarize: bool
    attempts: int
    last_error: str | None
    retry_at: str | None
    created_at: str


def job_page(conn: sqlite3.Connection, limit: int, after_seq: int = 0) -> list[QueuedJob]:
    """The queue in order from after `after_seq`, without reading the jobs' turns."""
    rows = conn.execute(
        "SELECT seq, transcript, event, json_array_length(turns), summarize, attempts, last_error,"
        " retry_at, created_at FROM capture_jobs WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    return [QueuedJob(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8]) for r in rows]


# -- reads for the session-start context and prompt recall ----------------------------------------
# Only memories true now: a superseded one (valid_to set, store/schema/v009_history.sql) is history,
# not what a session should start from.
CURRENT = "valid_to IS NULL"


@dataclass(frozen=True)
class Remembered:
    id: str
    namespace: str
    content: str
    importance: float
    updated_at: str
    metadata: dict[str, Any]


def top_memories(
    conn: sqlite3.Connection, namespace: str, limit: int, skip_sources: Iterable[str] = ()
) -> list[Remembered]:
    """A namespace's most important current memories, the newest first among equals."""
    skip = list(skip_sources)
    marks = ", ".join("?" * len(skip))
    where = f" AND coalesce(json_extract(metadata, '$.source'), '') NOT IN ({marks})" if skip else ""
    rows = conn.execute(
        "SELECT id, namespace, content, importance, updated_at, metadata FROM memories"
        f" WHERE namespace = ? AND {CURRENT}{where} ORDER BY importance DESC, updated_at DESC LIMIT ?",
        (namespace, *skip, limit),
    ).fetchall()
    return [Remembered(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}")) for r in rows]


def memory(conn: sqlite3.Connection, memory_id: str) -> Remembered | None:
    r = conn.execute(
        "SELECT id, namespace, content, importance, updated_at, metadata FROM memories WHERE id = ?",
        (memory_id,),
    ).fetchone()
    return None if r is None else Remembered(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"))


def user_profiles(conn: sqlite3.Connection, user_id: str) -> list[tuple[str, Any]]:
    """(function name, state) of the user_state profiles kept for a local user."""
    rows = conn.execute(
        "SELECT f.name, s.state FROM svc_states s JOIN svc_functions f"
        " ON f.scope = s.scope AND f.id = s.function_id"
        " WHERE s.scope = '' AND s.target = 'user' AND s.target_id = ? AND f.type = 'user_state'"
        " ORDER BY s.updated_at DESC",
        (user_id,),
    ).fetchall()
    return [(r[0], json.loads(r[1])) for r in rows]


def last_user_messages(conn: sqlite3.Connection, thread_id: str, limit: int) -> list[str]:
    """The newest texts the user wrote in a (local) thread, newest first."""
    rows = conn.execute(
        "SELECT content FROM svc_messages WHERE scope = '' AND thread_id = ? AND role = 'user'"
        " ORDER BY timestamp DESC, seq DESC LIMIT ?",
        (thread_id, limit),
    ).fetchall()
    out = []
    for (content,) in rows:
        value = json.loads(content)
        if isinstance(value, str) and value.strip():
            out.append(value)
    return out


def namespace_size(conn: sqlite3.Connection, namespace: str) -> int:
    return int(conn.execute("SELECT count(*) FROM memories WHERE namespace = ?", (namespace,)).fetchone()[0])


def lexical_candidates(
    conn: sqlite3.Connection, match: str, namespace: str, limit: int, exclude_session: str | None = None
) -> list[tuple[int, str]]:
    """(rowid, id) of the BM25 best matches of an FTS5 expression among one namespace's current
    memories (memory text only), leaving out the memories captured from one session."""
    where = ""
    params: list[Any] = [match, namespace]
    if exclude_session is not None:
        where = " AND coalesce(json_extract(m.metadata, '$.session_id'), '') != ?"
        params.append(exclude_session)
    rows = conn.execute(
        "SELECT m.rowid, m.id FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid"
        f" WHERE memories_fts MATCH ? AND m.namespace = ? AND m.{CURRENT}{where}"
        " ORDER BY bm25(memories_fts, 1.0, 0.0, 0.0) LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def term_hits(conn: sqlite3.Connection, match: str, among: Sequence[int]) -> tuple[int, set[int]]:
    """How many memories an FTS5 expression matches (one query term, within a namespace), and
    which of the rowids ``among`` it matches."""
    count = conn.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?", (match,)).fetchone()[
        0
    ]
    marks = ", ".join("?" * len(among))
    rows = conn.execute(
        f"SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? AND rowid IN ({marks})", (match, *among)
    )
    return int(count), {r[0] for r in rows}


def memories_by_id(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Remembered]:
    """The current memories among ``ids`` (a superseded one is left out)."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        "SELECT id, namespace, content, importance, updated_at, metadata FROM memories"
        f" WHERE id IN ({marks}) AND {CURRENT}",
        list(ids),
    ).fetchall()
    return {r[0]: Remembered(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}")) for r in rows}
