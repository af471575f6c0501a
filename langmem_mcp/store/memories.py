"""Memory rows in SQLite: CRUD, BM25 search through FTS5, and the index bookkeeping."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from langmem_mcp.store.sqlite import Database


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class MemoryRow:
    id: str
    namespace: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: str
    updated_at: str
    content_hash: str

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> MemoryRow:
        return cls(
            id=row["id"],
            namespace=row["namespace"],
            content=row["content"],
            metadata=json.loads(row["metadata"]),
            importance=row["importance"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            content_hash=row["content_hash"],
        )


_COLUMNS = "id, namespace, content, metadata, importance, created_at, updated_at, content_hash"


@dataclass(frozen=True)
class NewMemory:
    id: str
    namespace: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: str | None = None


class MemoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads ---------------------------------------------------------------------------
    async def get(self, memory_id: str) -> MemoryRow | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        return MemoryRow.from_row(row) if row else None

    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM memories WHERE id IN ({marks})", list(ids))
        return {r["id"]: MemoryRow.from_row(r) for r in rows}

    async def find_by_hash(self, namespace: str, digest: str) -> MemoryRow | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM memories WHERE namespace = ? AND content_hash = ?", (namespace, digest)
        )
        return MemoryRow.from_row(row) if row else None

    async def page(self, namespace: str, limit: int, after_rowid: int = 0) -> list[tuple[int, MemoryRow]]:
        """Oldest first, keyset-paged by rowid so a listing never costs more than a page."""
        rows = await self.db.fetchall(
            f"SELECT rowid, {_COLUMNS} FROM memories WHERE namespace = ? AND rowid > ? ORDER BY rowid LIMIT ?",
            (namespace, after_rowid, limit),
        )
        return [(r["rowid"], MemoryRow.from_row(r)) for r in rows]

    async def lexical(
        self, match: str, namespace: str, limit: int, where: str = "", params: Sequence[Any] = ()
    ) -> list[str]:
        """Ids ranked by FTS5 BM25 within one namespace, optionally narrowed by a metadata clause."""
        sql = (
            "SELECT m.id FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.namespace = ? {('AND ' + where) if where else ''} "
            "ORDER BY memories_fts.rank LIMIT ?"
        )
        rows = await self.db.fetchall(sql, (match, namespace, *params, limit))
        return [r[0] for r in rows]

    async def filter_ids(self, ids: Sequence[str], where: str, params: Sequence[Any]) -> set[str]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(
            f"SELECT id FROM memories m WHERE id IN ({marks}) AND {where}", (*ids, *params)
        )
        return {r[0] for r in rows}

    async def count_by_namespace(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT namespace, COUNT(*) FROM memories GROUP BY namespace")
        return {r[0]: r[1] for r in rows}

    # -- writes (each one transaction; acknowledged only after COMMIT) --------------------
    async def insert_many(self, items: Sequence[NewMemory]) -> list[tuple[NewMemory, str | None]]:
        """Insert, skipping verbatim duplicates within a namespace.

        Returns each item with the id of the existing memory when it was a duplicate (None when
        inserted). Duplicates never touch the existing row.
        """
        results: list[tuple[NewMemory, str | None]] = []
        async with self.db.transaction() as conn:
            for item in items:
                digest = content_hash(item.content)
                now = item.created_at or now_iso()
                cur = await conn.execute(
                    "INSERT INTO memories (id, namespace, content, metadata, importance, created_at,"
                    " updated_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(namespace, content_hash) DO NOTHING",
                    (
                        item.id,
                        item.namespace,
                        item.content,
                        json.dumps(item.metadata),
                        item.importance,
                        now,
                        now,
                        digest,
                    ),
                )
                if cur.rowcount == 1:
                    results.append((item, None))
                else:
                    async with conn.execute(
                        "SELECT id FROM memories WHERE namespace = ? AND content_hash = ?",
                        (item.namespace, digest),
                    ) as c:
                        row = await c.fetchone()
                    results.append((item, row[0]))
        return results

    async def update(
        self,
        memory_id: str,
        content: str | None,
        metadata: dict[str, Any] | None,
        importance: float | None,
    ) -> MemoryRow | None:
        """Change a memory in place; returns the new row, or None if the id is gone."""
        async with self.db.transaction() as conn:
            sets, params = ["updated_at = ?"], [now_iso()]
            if content is not None:
                sets += ["content = ?", "content_hash = ?", "indexed = 0"]
                params += [content, content_hash(content)]
            if metadata is not None:
                sets.append("metadata = ?")
                params.append(json.dumps(metadata))
            if importance is not None:
                sets.append("importance = ?")
                params.append(importance)
            cur = await conn.execute(
                f"UPDATE memories SET {', '.join(sets)} WHERE id = ?", (*params, memory_id)
            )
            if cur.rowcount == 0:
                return None
        return await self.get(memory_id)

    async def delete(self, memory_id: str) -> bool:
        """Delete the row and leave a tombstone, so the vector is removed even after a crash."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
            if cur.rowcount == 0:
                return False
            await conn.execute("INSERT OR IGNORE INTO index_tombstones (id) VALUES (?)", (memory_id,))
        return True

    # -- index bookkeeping -------------------------------------------------------------------
    async def mark_indexed(self, ids: Iterable[str], hashes: dict[str, str]) -> None:
        """Mark rows indexed only if their content is still what was embedded."""
        pairs = [(i, hashes[i]) for i in ids]
        if not pairs:
            return
        async with self.db.transaction() as conn:
            await conn.executemany("UPDATE memories SET indexed = 1 WHERE id = ? AND content_hash = ?", pairs)

    async def unindexed(self, limit: int) -> list[MemoryRow]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories WHERE indexed = 0 ORDER BY rowid LIMIT ?", (limit,)
        )
        return [MemoryRow.from_row(r) for r in rows]

    async def mark_all_unindexed(self) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE memories SET indexed = 0 WHERE indexed = 1")

    async def tombstones(self, limit: int) -> list[str]:
        rows = await self.db.fetchall("SELECT id FROM index_tombstones LIMIT ?", (limit,))
        return [r[0] for r in rows]

    async def clear_tombstones(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self.db.transaction() as conn:
            await conn.executemany("DELETE FROM index_tombstones WHERE id = ?", [(i,) for i in ids])

    async def all_ids(self) -> set[str]:
        return {r[0] for r in await self.db.fetchall("SELECT id FROM memories")}

    async def get_meta(self, key: str) -> str | None:
        return await self.db.scalar("SELECT value FROM meta WHERE key = ?", (key,))

    async def set_meta(self, key: str, value: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
