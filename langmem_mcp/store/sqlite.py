"""The SQLite database: the source of truth. Connection setup and schema migrations.

Every record lives here; the vector index can be rebuilt from it. The schema version is
SQLite's `user_version`: older files are migrated when opened, newer ones are refused
and never rewritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from langmem_mcp.errors import LangmemError

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).with_name("schema")
#: Waits between attempts at BEGIN IMMEDIATE when SQLite reports "locked" at once: in WAL mode
#: it can return SQLITE_BUSY without calling the busy handler (seen with two servers writing one
#: file). Nothing has been done yet, so a retry is safe. 10 ms, 20 ms, … ≈ 4 s in all.
BEGIN_RETRY_DELAYS = tuple(0.01 * k for k in range(1, 30))


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc)


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT on a plain sqlite3 connection in autocommit mode (the index
    owner's own), with Database.transaction's retry; rolls back on error."""
    for delay in (*BEGIN_RETRY_DELAYS, None):
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if delay is None or not _locked(exc):
                raise
            time.sleep(delay)
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def load_migrations(directory: Path = SCHEMA_DIR) -> list[str]:
    """`vNNN_name.sql` migrates from version NNN-1 to NNN. Add files; never edit a released one."""
    files = sorted(directory.glob("v[0-9][0-9][0-9]_*.sql"))
    numbers = [int(f.name[1:4]) for f in files]
    if numbers != list(range(1, len(files) + 1)):
        raise RuntimeError(f"schema migrations in {directory} are not numbered 1..n: {numbers}")
    return [f.read_text(encoding="utf-8") for f in files]


MIGRATIONS = load_migrations()
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    """The timestamps stored in every table: UTC, ISO 8601."""
    return datetime.now(UTC).isoformat()


def load_json(text: str | None, default: Any) -> Any:
    """A JSON column's value (`default` when NULL)."""
    if text is None:
        return default
    return json.loads(text)


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def sha256_hex(text: str) -> str:
    """The hex digest stored for content and tokens (lone surrogates kept, never an error)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class SchemaTooNew(LangmemError):
    """The data dir was written by a newer version; it is left untouched."""


class Database:
    """One aiosqlite connection per process; writes are serialised by a lock and run as
    short transactions, so a second process on the same file waits (busy_timeout) instead of
    failing."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int = 10_000) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db = cls(conn, path)
        try:
            # Before anything writes (journal_mode rewrites the header): a newer file stays untouched.
            await db._refuse_newer()
        except BaseException:
            await conn.close()
            raise
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        try:
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def _refuse_newer(self) -> None:
        await self._migrate(check_only=True)

    async def _migrate(self, check_only: bool = False) -> None:
        version = await self.scalar("PRAGMA user_version")
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path} was written by a newer langmem-mcp (schema {version}; this one knows up to "
                f"{SCHEMA_VERSION}). Upgrade langmem-mcp; the file was left untouched."
            )
        if check_only:
            return
        while version < SCHEMA_VERSION:
            async with self.transaction():
                # Read again under the write lock: another process may have migrated meanwhile.
                version = await self.scalar("PRAGMA user_version")
                if version >= SCHEMA_VERSION:
                    break
                target = version + 1
                log.info("migrating %s to schema %d", self.path, target)
                # executescript would commit on its own; run statement by statement instead.
                for statement in _statements(MIGRATIONS[target - 1]):
                    await self.conn.execute(statement)
                await self.conn.execute(f"PRAGMA user_version = {target}")
            version = target

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the process-wide write lock; rolls back on error."""
        async with self._write_lock:
            await self._begin()
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried as in `immediate_transaction`."""
        for delay in (*BEGIN_RETRY_DELAYS, None):
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if delay is None or not _locked(exc):
                    raise
                await asyncio.sleep(delay)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        # One trip to the connection's thread (execute, fetch and close would take three).
        return list(await self.conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def close(self) -> None:
        await self.conn.close()


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    out: list[str] = []
    buf: list[str] = []
    for line in script.strip().splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and _sqlite_complete(candidate):
            out.append(candidate)
            buf = []
    if "".join(buf).strip():
        out.append("\n".join(buf))
    return out


def _sqlite_complete(sql: str) -> bool:
    import sqlite3

    return sqlite3.complete_statement(sql)
