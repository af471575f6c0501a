"""Memory functions, what they formed (state per user or thread), and formation watermarks, in
SQLite (schema v003). Every method takes the caller's `scope` (see `service.scoping`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from langmem_mcp.store.sqlite import Database, dump_json, load_json, now_iso


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
            load_json(r["parameters"], {}),
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


_FUNCTION_COLUMNS = (
    "rowid, scope, id, type, name, description, custom_instructions, parameters, status, is_default,"
    " created_at, updated_at"
)


class FunctionStore:
    """Memory functions of each scope, their formed state and their progress through threads."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
                    dump_json(parameters),
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
                params.append(dump_json(fields[key]) if key == "parameters" else fields[key])
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
        return StateRow(r[0], r[1], r[2], load_json(r[3], None), r[4]) if r else None

    async def set_state(self, scope: str, function_id: str, target: str, target_id: str, state: Any) -> str:
        now = now_iso()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO svc_states (scope, function_id, target, target_id, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope, function_id, target, target_id)"
                " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (scope, function_id, target, target_id, dump_json(state), now),
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
        return [StateRow(r[0], r[1], r[2], load_json(r[3], None), r[4]) for r in rows]

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
        self,
        namespace: str | None,
        function_id: str,
        *,
        namespace_prefix: str | None = None,
        limit: int = 0,
        current_only: bool = False,
    ) -> list[tuple[str, str]]:
        """(id, namespace) of memories formed by a function: in one namespace, or in every
        namespace under a prefix; only those true now (not superseded) with `current_only`.
        Newest first; `limit` 0 for all."""
        if namespace is not None:
            where, params = "namespace = ?", [namespace]
        else:
            escaped = (namespace_prefix or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, params = "namespace LIKE ? ESCAPE '\\'", [escaped + "%"]
        if current_only:
            where += " AND valid_to IS NULL"
        rows = await self.db.fetchall(
            f"SELECT id, namespace FROM memories WHERE {where}"
            " AND json_extract(metadata, '$.memory_function_id') = ? ORDER BY rowid DESC"
            + (" LIMIT ?" if limit else ""),
            (*params, function_id, *([limit] if limit else [])),
        )
        return [(r[0], r[1]) for r in rows]

    async def count_function_memories(
        self, namespace: str, function_id: str, current_only: bool = False
    ) -> int:
        return int(
            await self.db.scalar(
                "SELECT COUNT(*) FROM memories WHERE namespace = ?"
                " AND json_extract(metadata, '$.memory_function_id') = ?"
                + (" AND valid_to IS NULL" if current_only else ""),
                (namespace, function_id),
            )
        )
