"""The SQLite database: the source of truth. Connection setup and schema migrations.

Every record lives here; the vector index can be rebuilt from it. The schema version is
SQLite's `user_version`: older files are migrated when opened, newer ones are refused
and never rewritten.

A full disk or a read-only data dir loses nothing: a transaction that cannot be written is rolled
back and fails with `DiskFull` or `ReadOnlyData`, which say so in words; reads go on. A data dir
that cannot be written at all (a read-only mount, no write permission) is opened read-only.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
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
#: How long a statement waits for another process's write lock.
BUSY_TIMEOUT_MS = 10_000
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


class DiskFull(LangmemError):
    """A write found no space left on the data dir's device; it was rolled back."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"no space left on device at {data_dir}: this change was not saved. Free some space and "
            "try again (no restart needed); everything saved before is intact, and searches still work"
        )


class ReadOnlyData(LangmemError):
    """The data dir cannot be written (a read-only mount, or no write permission)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"the data directory is read-only ({data_dir}): this change was not saved. Searches work; "
            "to save memories, make it writable (permissions, or a read-write mount) and restart the server"
        )


def storage_error(exc: BaseException, data_dir: Path) -> LangmemError | None:
    """What a failed write means for the user, when it was the disk: full, or read-only."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DiskFull(data_dir)
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ReadOnlyData(data_dir)
    if not isinstance(exc, sqlite3.Error):
        return None
    if name == "SQLITE_FULL" or "disk is full" in text:
        return DiskFull(data_dir)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return ReadOnlyData(data_dir)
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or "disk i/o error" in text:
        # SQLite reports some failed writes as I/O errors; the device says which it was.
        if not writable(data_dir):
            return ReadOnlyData(data_dir)
        try:
            if os.statvfs(data_dir).f_bavail == 0:
                return DiskFull(data_dir)
        except (OSError, AttributeError):  # no statvfs on Windows
            pass
    return None


def writable(directory: Path) -> bool:
    """Can files be created in this directory (not a read-only mount, write permission)?"""
    return os.access(directory, os.W_OK)


class Database:
    """One aiosqlite connection per process; writes are serialised by a lock and run as
    short transactions, so a second process on the same file waits (busy_timeout) instead of
    failing. A second, read-only connection takes the long reads (`fetchall_aside`: a search's
    keyword ranking), so the short reads queued behind them do not wait."""

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, read_only: bool = False, uri: str | None = None
    ) -> None:
        self.conn = conn
        self.path = path
        #: Opened read-only: the data dir cannot be written. Every write fails with ReadOnlyData.
        self.read_only = read_only
        self._write_lock = asyncio.Lock()
        self._uri = uri or path.resolve().as_uri() + "?mode=ro"
        self._aside: aiosqlite.Connection | None = None
        self._aside_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
        if path.parent.exists() and not writable(path.parent):
            return await cls._open_read_only(path, busy_timeout_ms)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db = cls(conn, path)
        try:
            # Before anything writes (journal_mode rewrites the header): a newer file stays untouched.
            await db._refuse_newer()
            await conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            await conn.close()
            if isinstance(storage_error(exc, path.parent), ReadOnlyData):  # e.g. the file is not writable
                return await cls._open_read_only(path, busy_timeout_ms)
            raise
        except BaseException:
            await conn.close()
            raise
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        try:
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    @classmethod
    async def _open_read_only(cls, path: Path, busy_timeout_ms: int) -> Database:
        """Open a data dir that cannot be written. Without its write-ahead log, SQLite cannot make
        the shared-memory file it needs, so the file is opened immutable; with one (left by a server
        that did not close), read-only with the log."""
        if not path.exists():
            raise LangmemError(
                f"the data directory {path.parent} is read-only and holds no database yet: make it "
                "writable, or choose another with --data-dir (LANGMEM_MCP_DATA_DIR)"
            )
        wal = path.with_name(path.name + "-wal").exists()
        uri = path.resolve().as_uri() + ("?mode=ro" if wal else "?mode=ro&immutable=1")
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db = cls(conn, path, read_only=True, uri=uri)
        try:
            await db._migrate(check_only=True)
            version = await db.scalar("PRAGMA user_version")
        except BaseException:
            await conn.close()
            raise
        if version < SCHEMA_VERSION:
            await conn.close()
            raise LangmemError(
                f"the data directory {path.parent} is read-only, and its database (schema {version}) must "
                f"be migrated to schema {SCHEMA_VERSION} by this version, which writes to it: make it "
                "writable once, or keep using the version that wrote it"
            )
        log.warning("%s is read-only: serving searches; every write will be refused", path.parent)
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
        """BEGIN IMMEDIATE … COMMIT under the process-wide write lock; rolls back on error. A write
        the disk refuses (full, read-only) fails with DiskFull or ReadOnlyData."""
        if self.read_only:
            raise ReadOnlyData(self.path.parent)
        async with self._write_lock:
            try:
                await self._begin()
            except sqlite3.Error as exc:
                self._raise_storage_error(exc)
                raise
            try:
                yield self.conn
                await self.conn.execute("COMMIT")
            except BaseException as exc:
                await self._rollback()
                self._raise_storage_error(exc)
                raise

    def _raise_storage_error(self, exc: BaseException) -> None:
        """Raise DiskFull or ReadOnlyData for a failure of the disk; return for anything else."""
        translated = storage_error(exc, self.path.parent)
        if translated is not None:
            raise translated from exc

    async def _rollback(self) -> None:
        try:
            await self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:  # SQLite rolls back itself after some errors (a full disk)
            if "no transaction is active" not in str(exc):
                raise

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

    async def fetchall_aside(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        """`fetchall` on the second connection: what is committed, read beside the first."""
        async with self._aside_lock:
            if self._aside is None:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                self._aside = await aiosqlite.connect(self._uri, uri=True, isolation_level=None)
                self._aside.row_factory = aiosqlite.Row
                await self._aside.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            aside = self._aside
        return list(await aside.execute_fetchall(sql, params))

    async def close(self) -> None:
        self._closed = True
        if self._aside is not None:
            await self._aside.close()
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
