"""Users of the LangMem service model (schema v003), within the caller's scope (`service.scoping`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from langmem_mcp.store.sqlite import Database, dump_json, load_json, now_iso


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
            load_json(r["tags"], []),
            load_json(r["metadata"], {}),
            r["created_at"],
            r["updated_at"],
        )


class UserStore:
    """The `svc_users` rows of each scope."""

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
                (scope, user_id, name, dump_json(tags), dump_json(metadata), now, now),
            )
            return cur.rowcount == 1

    async def update_user(self, scope: str, user_id: str, fields: dict[str, Any]) -> bool:
        sets, params = ["updated_at = ?"], [now_iso()]
        for key in ("name", "tags", "metadata"):
            if key in fields:
                sets.append(f"{key} = ?")
                params.append(fields[key] if key == "name" else dump_json(fields[key]))
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
