"""Threads, their messages and thread state in SQLite (schema v003), and the queue of threads
waiting for formation. Every method takes the caller's `scope` (see `service.scoping`); only the
formation worker's queue reads across scopes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from langmem_mcp.store.sqlite import Database, dump_json, load_json, now_iso


@dataclass(frozen=True)
class ThreadRow:
    rowid: int
    scope: str
    id: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    pending_since: str | None
    message_count: int
    last_message_at: str | None

    @classmethod
    def of(cls, r: aiosqlite.Row) -> ThreadRow:
        return cls(
            r["rowid"],
            r["scope"],
            r["id"],
            load_json(r["metadata"], {}),
            r["created_at"],
            r["updated_at"],
            r["pending_since"],
            r["message_count"],
            r["last_message_at"],
        )


@dataclass(frozen=True)
class MessageRow:
    seq: int
    id: str
    role: str
    content: Any
    name: str | None
    user_id: str | None
    timestamp: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, r: aiosqlite.Row) -> MessageRow:
        return cls(
            r["seq"],
            r["id"],
            r["role"],
            load_json(r["content"], ""),
            r["name"],
            r["user_id"],
            r["timestamp"],
            load_json(r["metadata"], {}),
        )


@dataclass(frozen=True)
class NewMessage:
    id: str
    role: str
    content: Any
    name: str | None
    user_id: str | None
    user_name: str | None
    timestamp: str
    metadata: dict[str, Any]
    dedup_key: str | None


_THREAD_SELECT = (
    "SELECT t.rowid AS rowid, t.scope, t.id, t.metadata, t.created_at, t.updated_at, t.pending_since,"
    " (SELECT COUNT(*) FROM svc_messages m WHERE m.scope = t.scope AND m.thread_id = t.id) AS message_count,"
    " (SELECT MAX(m.timestamp) FROM svc_messages m WHERE m.scope = t.scope AND m.thread_id = t.id)"
    " AS last_message_at FROM svc_threads t"
)
_MESSAGE_COLUMNS = "seq, id, role, content, name, user_id, timestamp, metadata"


class ThreadStore:
    """Threads and messages of each scope; adding messages registers the users who wrote them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- threads -----------------------------------------------------------------------------
    async def get_thread(self, scope: str, thread_id: str) -> ThreadRow | None:
        r = await self.db.fetchone(f"{_THREAD_SELECT} WHERE t.scope = ? AND t.id = ?", (scope, thread_id))
        return ThreadRow.of(r) if r else None

    async def thread_exists(self, scope: str, thread_id: str) -> bool:
        return (
            await self.db.scalar("SELECT 1 FROM svc_threads WHERE scope = ? AND id = ?", (scope, thread_id))
        ) is not None

    async def insert_thread(self, scope: str, thread_id: str, metadata: dict[str, Any]) -> bool:
        now = now_iso()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO svc_threads (scope, id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(scope, id) DO NOTHING",
                (scope, thread_id, dump_json(metadata), now, now),
            )
            return cur.rowcount == 1

    async def list_threads(self, scope: str, before_rowid: int | None, limit: int) -> list[ThreadRow]:
        """Newest first, keyset-paged by rowid."""
        if before_rowid is None:
            rows = await self.db.fetchall(
                f"{_THREAD_SELECT} WHERE t.scope = ? ORDER BY t.rowid DESC LIMIT ?", (scope, limit)
            )
        else:
            rows = await self.db.fetchall(
                f"{_THREAD_SELECT} WHERE t.scope = ? AND t.rowid < ? ORDER BY t.rowid DESC LIMIT ?",
                (scope, before_rowid, limit),
            )
        return [ThreadRow.of(r) for r in rows]

    async def add_messages(
        self,
        scope: str,
        thread_id: str,
        messages: Sequence[NewMessage],
        *,
        create: bool,
        thread_metadata: dict[str, Any] | None = None,
    ) -> tuple[bool, list[str], int]:
        """Store messages (creating the thread when `create`), skipping repeats; register their
        users. Returns (thread existed or was created, ids of the messages added, duplicates)."""
        now = now_iso()
        added: list[str] = []
        duplicates = 0
        async with self.db.transaction() as conn:
            if create:
                await conn.execute(
                    "INSERT INTO svc_threads (scope, id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT(scope, id) DO NOTHING",
                    (scope, thread_id, dump_json(thread_metadata or {}), now, now),
                )
            else:
                async with conn.execute(
                    "SELECT 1 FROM svc_threads WHERE scope = ? AND id = ?", (scope, thread_id)
                ) as c:
                    if await c.fetchone() is None:
                        return False, [], 0
            for m in messages:
                if m.user_id is not None:
                    await conn.execute(
                        "INSERT INTO svc_users (scope, id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT(scope, id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at"
                        " WHERE svc_users.name IS NULL AND excluded.name IS NOT NULL",
                        (scope, m.user_id, m.user_name, now, now),
                    )
                cur = await conn.execute(
                    "INSERT INTO svc_messages (scope, thread_id, id, role, content, name, user_id, timestamp,"
                    " metadata, dedup_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (
                        scope,
                        thread_id,
                        m.id,
                        m.role,
                        dump_json(m.content),
                        m.name,
                        m.user_id,
                        m.timestamp,
                        dump_json(m.metadata),
                        m.dedup_key,
                        now,
                    ),
                )
                if cur.rowcount == 1:
                    added.append(m.id)
                else:
                    duplicates += 1
            if added:
                await conn.execute(
                    "UPDATE svc_threads SET updated_at = ?, pending_since = ? WHERE scope = ? AND id = ?",
                    (now, now, scope, thread_id),
                )
        return True, added, duplicates

    async def messages_page(
        self,
        scope: str,
        thread_id: str,
        ascending: bool,
        after: tuple[str, int] | None,
        limit: int,
    ) -> list[MessageRow]:
        """Messages in (timestamp, seq) order, keyset-paged from `after` (exclusive)."""
        op, order = (">", "ASC") if ascending else ("<", "DESC")
        where, params = "scope = ? AND thread_id = ?", [scope, thread_id]
        args: list[Any] = list(params)
        if after is not None:
            where += f" AND (timestamp, seq) {op} (?, ?)"
            args += [after[0], after[1]]
        rows = await self.db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM svc_messages WHERE {where}"
            f" ORDER BY timestamp {order}, seq {order} LIMIT ?",
            (*args, limit),
        )
        return [MessageRow.of(r) for r in rows]

    async def messages_between(
        self, scope: str, thread_id: str, after_seq: int, up_to_seq: int, limit: int | None = None
    ) -> list[MessageRow]:
        """Messages with after_seq < seq <= up_to_seq, in the order they were added."""
        rows = await self.db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM svc_messages WHERE scope = ? AND thread_id = ? AND seq > ?"
            " AND seq <= ? ORDER BY seq" + (" LIMIT ?" if limit else ""),
            (scope, thread_id, after_seq, up_to_seq, *([limit] if limit else [])),
        )
        return [MessageRow.of(r) for r in rows]

    async def last_messages(self, scope: str, thread_id: str, limit: int) -> list[MessageRow]:
        rows = await self.db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM svc_messages WHERE scope = ? AND thread_id = ?"
            " ORDER BY timestamp DESC, seq DESC LIMIT ?",
            (scope, thread_id, limit),
        )
        return [MessageRow.of(r) for r in reversed(rows)]

    async def max_seq(self, scope: str, thread_id: str) -> int:
        return int(
            await self.db.scalar(
                "SELECT COALESCE(MAX(seq), 0) FROM svc_messages WHERE scope = ? AND thread_id = ?",
                (scope, thread_id),
            )
        )

    async def thread_user_ids(self, scope: str, thread_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT user_id, MIN(seq) AS first FROM svc_messages WHERE scope = ? AND thread_id = ?"
            " AND user_id IS NOT NULL GROUP BY user_id ORDER BY first",
            (scope, thread_id),
        )
        return [r[0] for r in rows]

    async def user_thread_ids(self, scope: str, user_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT thread_id, MAX(seq) AS last FROM svc_messages WHERE scope = ? AND user_id = ?"
            " GROUP BY thread_id ORDER BY last DESC",
            (scope, user_id),
        )
        return [r[0] for r in rows]

    # -- thread state --------------------------------------------------------------------------
    async def set_thread_state(self, scope: str, thread_id: str, key: str, state: Any) -> str:
        now = now_iso()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO svc_thread_state (scope, thread_id, key, state, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(scope, thread_id, key) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                (scope, thread_id, key, dump_json(state), now),
            )
        return now

    async def get_thread_state(self, scope: str, thread_id: str, key: str) -> tuple[Any, str] | None:
        r = await self.db.fetchone(
            "SELECT state, updated_at FROM svc_thread_state WHERE scope = ? AND thread_id = ? AND key = ?",
            (scope, thread_id, key),
        )
        return (load_json(r[0], None), r[1]) if r else None

    # -- formation queue -------------------------------------------------------------------------
    async def pending_threads(self, cutoff: str, limit: int) -> list[tuple[str, str, str]]:
        """(scope, thread id, pending_since) of threads whose last messages arrived before `cutoff`
        and are not formed yet, oldest first. Across scopes: only the formation worker calls this."""
        rows = await self.db.fetchall(
            "SELECT scope, id, pending_since FROM svc_threads WHERE pending_since IS NOT NULL"
            " AND pending_since <= ? ORDER BY pending_since LIMIT ?",
            (cutoff, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def pending_in_scope(self, scope: str, limit: int = 100) -> list[tuple[str, str]]:
        """(thread id, pending_since) of one scope's threads not formed yet, oldest first."""
        rows = await self.db.fetchall(
            "SELECT id, pending_since FROM svc_threads WHERE pending_since IS NOT NULL AND scope = ?"
            " ORDER BY pending_since LIMIT ?",
            (scope, limit),
        )
        return [(r[0], r[1]) for r in rows]

    async def clear_pending(self, scope: str, thread_id: str, seen: str | None) -> None:
        """Mark formed, unless messages arrived after `seen` (then they are still pending)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE svc_threads SET pending_since = NULL WHERE scope = ? AND id = ? AND pending_since IS ?",
                (scope, thread_id, seen),
            )

    async def get_pending(self, scope: str, thread_id: str) -> str | None:
        found: str | None = await self.db.scalar(
            "SELECT pending_since FROM svc_threads WHERE scope = ? AND id = ?", (scope, thread_id)
        )
        return found

    async def retry_later(self, scope: str, thread_id: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE svc_threads SET pending_since = ? WHERE scope = ? AND id = ?",
                (now_iso(), scope, thread_id),
            )
