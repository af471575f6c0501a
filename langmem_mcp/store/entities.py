"""The LangMem service model's rows in SQLite: users, threads, messages, memory functions,
formed state, thread state and formation watermarks (schema v003).

Every method takes the caller's `scope` (see `service.scoping`); nothing here reads across
scopes except the formation worker's queue of pending threads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from langmem_mcp.store.memories import now_iso
from langmem_mcp.store.sqlite import Database


def _loads(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    return json.loads(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class UserRow:
    rowid: int
    scope: str
    id: str
    name: str | None
    tags: list[str]
    metadata: dict[str, Any]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, r: aiosqlite.Row) -> UserRow:
        return cls(
            r["rowid"],
            r["scope"],
            r["id"],
            r["name"],
            _loads(r["tags"], []),
            _loads(r["metadata"], {}),
            r["created_at"],
            r["updated_at"],
        )


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
            _loads(r["metadata"], {}),
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
            _loads(r["content"], ""),
            r["name"],
            r["user_id"],
            r["timestamp"],
            _loads(r["metadata"], {}),
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


@dataclass(frozen=True)
class FunctionRow:
    rowid: int
    scope: str
    id: str
    type: str
    name: str
    description: str
    custom_instructions: str | None
    parameters: dict[str, Any]
    status: str
    is_default: bool
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, r: aiosqlite.Row) -> FunctionRow:
        return cls(
            r["rowid"],
            r["scope"],
            r["id"],
            r["type"],
            r["name"],
            r["description"],
            r["custom_instructions"],
            _loads(r["parameters"], {}),
            r["status"],
            bool(r["is_default"]),
            r["created_at"],
            r["updated_at"],
        )


@dataclass(frozen=True)
class StateRow:
    function_id: str
    target: str
    target_id: str
    state: Any
    updated_at: str


_THREAD_SELECT = (
    "SELECT t.rowid AS rowid, t.scope, t.id, t.metadata, t.created_at, t.updated_at, t.pending_since,"
    " (SELECT COUNT(*) FROM svc_messages m WHERE m.scope = t.scope AND m.thread_id = t.id) AS message_count,"
    " (SELECT MAX(m.timestamp) FROM svc_messages m WHERE m.scope = t.scope AND m.thread_id = t.id)"
    " AS last_message_at FROM svc_threads t"
)
_MESSAGE_COLUMNS = "seq, id, role, content, name, user_id, timestamp, metadata"
_FUNCTION_COLUMNS = (
    "rowid, scope, id, type, name, description, custom_instructions, parameters, status, is_default,"
    " created_at, updated_at"
)


class EntityStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users -------------------------------------------------------------------------------
    async def get_user(self, scope: str, user_id: str) -> UserRow | None:
        r = await self.db.fetchone(
            "SELECT rowid, * FROM svc_users WHERE scope = ? AND id = ?", (scope, user_id)
        )
        return UserRow.of(r) if r else None

    async def insert_user(
        self, scope: str, user_id: str, name: str | None, tags: list[str], metadata: dict[str, Any]
    ) -> bool:
        now = now_iso()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO svc_users (scope, id, name, tags, metadata, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(scope, id) DO NOTHING",
                (scope, user_id, name, _dumps(tags), _dumps(metadata), now, now),
            )
            return cur.rowcount == 1

    async def update_user(self, scope: str, user_id: str, fields: dict[str, Any]) -> bool:
        sets, params = ["updated_at = ?"], [now_iso()]
        for key in ("name", "tags", "metadata"):
            if key in fields:
                sets.append(f"{key} = ?")
                params.append(fields[key] if key == "name" else _dumps(fields[key]))
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE svc_users SET {', '.join(sets)} WHERE scope = ? AND id = ?",
                (*params, scope, user_id),
            )
            return cur.rowcount == 1

    async def list_users(
        self,
        scope: str,
        names: Sequence[str] | None,
        ids: Sequence[str] | None,
        after_rowid: int,
        limit: int,
    ) -> list[UserRow]:
        where, params = ["scope = ?", "rowid > ?"], [scope, after_rowid]
        for column, values in (("name", names), ("id", ids)):
            if values is not None:
                where.append(f"{column} IN ({','.join('?' * len(values))})" if values else "0")
                params += list(values)
        rows = await self.db.fetchall(
            f"SELECT rowid, * FROM svc_users WHERE {' AND '.join(where)} ORDER BY rowid LIMIT ?",
            (*params, limit),
        )
        return [UserRow.of(r) for r in rows]

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
                (scope, thread_id, _dumps(metadata), now, now),
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
                    (scope, thread_id, _dumps(thread_metadata or {}), now, now),
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
                        _dumps(m.content),
                        m.name,
                        m.user_id,
                        m.timestamp,
                        _dumps(m.metadata),
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
        if after is not None:
            where += f" AND (timestamp, seq) {op} (?, ?)"
            params += [after[0], after[1]]
        rows = await self.db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM svc_messages WHERE {where}"
            f" ORDER BY timestamp {order}, seq {order} LIMIT ?",
            (*params, limit),
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
                (scope, thread_id, key, _dumps(state), now),
            )
        return now

    async def get_thread_state(self, scope: str, thread_id: str, key: str) -> tuple[Any, str] | None:
        r = await self.db.fetchone(
            "SELECT state, updated_at FROM svc_thread_state WHERE scope = ? AND thread_id = ? AND key = ?",
            (scope, thread_id, key),
        )
        return (_loads(r[0], None), r[1]) if r else None

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

    async def clear_pending(self, scope: str, thread_id: str, seen: str | None) -> None:
        """Mark formed, unless messages arrived after `seen` (then they are still pending)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE svc_threads SET pending_since = NULL WHERE scope = ? AND id = ? AND pending_since IS ?",
                (scope, thread_id, seen),
            )

    async def get_pending(self, scope: str, thread_id: str) -> str | None:
        return await self.db.scalar(
            "SELECT pending_since FROM svc_threads WHERE scope = ? AND id = ?", (scope, thread_id)
        )

    async def retry_later(self, scope: str, thread_id: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE svc_threads SET pending_since = ? WHERE scope = ? AND id = ?",
                (now_iso(), scope, thread_id),
            )

    # -- memory functions --------------------------------------------------------------------------
    async def get_function(self, scope: str, function_id: str) -> FunctionRow | None:
        r = await self.db.fetchone(
            f"SELECT {_FUNCTION_COLUMNS} FROM svc_functions WHERE scope = ? AND id = ?", (scope, function_id)
        )
        return FunctionRow.of(r) if r else None

    async def get_functions(self, scope: str, ids: Iterable[str]) -> dict[str, FunctionRow]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT {_FUNCTION_COLUMNS} FROM svc_functions WHERE scope = ? AND id IN ({','.join('?' * len(ids))})",
            (scope, *ids),
        )
        return {r["id"]: FunctionRow.of(r) for r in rows}

    async def insert_function(
        self,
        scope: str,
        function_id: str,
        type: str,
        name: str,
        description: str,
        custom_instructions: str | None,
        parameters: dict[str, Any],
        *,
        is_default: bool = False,
    ) -> bool:
        now = now_iso()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO svc_functions (scope, id, type, name, description, custom_instructions, parameters,"
                " status, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)"
                " ON CONFLICT(scope, id) DO NOTHING",
                (
                    scope,
                    function_id,
                    type,
                    name,
                    description,
                    custom_instructions,
                    _dumps(parameters),
                    int(is_default),
                    now,
                    now,
                ),
            )
            return cur.rowcount == 1

    async def update_function(self, scope: str, function_id: str, fields: dict[str, Any]) -> bool:
        sets, params = ["updated_at = ?"], [now_iso()]
        for key in ("type", "name", "description", "custom_instructions", "parameters", "status"):
            if key in fields:
                sets.append(f"{key} = ?")
                params.append(_dumps(fields[key]) if key == "parameters" else fields[key])
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE svc_functions SET {', '.join(sets)} WHERE scope = ? AND id = ?",
                (*params, scope, function_id),
            )
            return cur.rowcount == 1

    async def delete_function(self, scope: str, function_id: str) -> bool:
        """The function, its formed state and its watermarks (memories are the caller's to delete)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM svc_functions WHERE scope = ? AND id = ?", (scope, function_id)
            )
            await conn.execute(
                "DELETE FROM svc_states WHERE scope = ? AND function_id = ?", (scope, function_id)
            )
            await conn.execute(
                "DELETE FROM svc_watermarks WHERE scope = ? AND function_id = ?", (scope, function_id)
            )
            return cur.rowcount == 1

    async def list_functions(
        self, scope: str, types: Sequence[str] | None, after_rowid: int, limit: int
    ) -> list[FunctionRow]:
        where, params = "scope = ? AND rowid > ?", [scope, after_rowid]
        if types is not None:
            where += f" AND type IN ({','.join('?' * len(types))})" if types else " AND 0"
            params += list(types)
        rows = await self.db.fetchall(
            f"SELECT {_FUNCTION_COLUMNS} FROM svc_functions WHERE {where} ORDER BY rowid LIMIT ?",
            (*params, limit),
        )
        return [FunctionRow.of(r) for r in rows]

    async def active_functions(self, scope: str) -> list[FunctionRow]:
        rows = await self.db.fetchall(
            f"SELECT {_FUNCTION_COLUMNS} FROM svc_functions WHERE scope = ? AND status = 'active' ORDER BY rowid",
            (scope,),
        )
        return [FunctionRow.of(r) for r in rows]

    # -- formed state ----------------------------------------------------------------------------------
    async def get_state(self, scope: str, function_id: str, target: str, target_id: str) -> StateRow | None:
        r = await self.db.fetchone(
            "SELECT function_id, target, target_id, state, updated_at FROM svc_states"
            " WHERE scope = ? AND function_id = ? AND target = ? AND target_id = ?",
            (scope, function_id, target, target_id),
        )
        return StateRow(r[0], r[1], r[2], _loads(r[3], None), r[4]) if r else None

    async def set_state(self, scope: str, function_id: str, target: str, target_id: str, state: Any) -> str:
        now = now_iso()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO svc_states (scope, function_id, target, target_id, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope, function_id, target, target_id)"
                " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (scope, function_id, target, target_id, _dumps(state), now),
            )
        return now

    async def delete_state(self, scope: str, function_id: str, target: str, target_id: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM svc_states WHERE scope = ? AND function_id = ? AND target = ? AND target_id = ?",
                (scope, function_id, target, target_id),
            )
            return cur.rowcount == 1

    async def latest_thread_states(
        self, scope: str, function_id: str, thread_ids: Sequence[str], limit: int
    ) -> list[StateRow]:
        if not thread_ids:
            return []
        rows = await self.db.fetchall(
            "SELECT function_id, target, target_id, state, updated_at FROM svc_states WHERE scope = ?"
            f" AND function_id = ? AND target = 'thread' AND target_id IN ({','.join('?' * len(thread_ids))})"
            " ORDER BY updated_at DESC LIMIT ?",
            (scope, function_id, *thread_ids, limit),
        )
        return [StateRow(r[0], r[1], r[2], _loads(r[3], None), r[4]) for r in rows]

    # -- watermarks -------------------------------------------------------------------------------------
    async def watermark(self, scope: str, thread_id: str, function_id: str, user_id: str) -> int:
        value = await self.db.scalar(
            "SELECT seq FROM svc_watermarks WHERE scope = ? AND thread_id = ? AND function_id = ? AND user_id = ?",
            (scope, thread_id, function_id, user_id),
        )
        return int(value or 0)

    async def set_watermark(
        self, scope: str, thread_id: str, function_id: str, user_id: str, seq: int
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO svc_watermarks (scope, thread_id, function_id, user_id, seq, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope, thread_id, function_id, user_id)"
                " DO UPDATE SET seq = MAX(seq, excluded.seq), updated_at = excluded.updated_at",
                (scope, thread_id, function_id, user_id, seq, now_iso()),
            )

    # -- the memories a function formed ------------------------------------------------------------------
    async def function_memories(
        self, namespace: str | None, function_id: str, *, namespace_prefix: str | None = None, limit: int = 0
    ) -> list[tuple[str, str]]:
        """(id, namespace) of memories formed by a function: in one namespace, or in every
        namespace under a prefix. Newest first; `limit` 0 for all."""
        if namespace is not None:
            where, params = "namespace = ?", [namespace]
        else:
            escaped = (namespace_prefix or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, params = "namespace LIKE ? ESCAPE '\\'", [escaped + "%"]
        rows = await self.db.fetchall(
            f"SELECT id, namespace FROM memories WHERE {where}"
            " AND json_extract(metadata, '$.memory_function_id') = ? ORDER BY rowid DESC"
            + (" LIMIT ?" if limit else ""),
            (*params, function_id, *([limit] if limit else [])),
        )
        return [(r[0], r[1]) for r in rows]

    async def count_function_memories(self, namespace: str, function_id: str) -> int:
        return int(
            await self.db.scalar(
                "SELECT COUNT(*) FROM memories WHERE namespace = ?"
                " AND json_extract(metadata, '$.memory_function_id') = ?",
                (namespace, function_id),
            )
        )
