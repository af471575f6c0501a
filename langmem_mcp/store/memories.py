"""Memory rows in SQLite: CRUD, BM25 search through FTS5, and where each row stands in the index.

A write commits the row together with the vector of its own text, so it is found by keywords and
by meaning as soon as it is acknowledged. Its *context* (the memories of the same conversation
around it, an index-only column) and the vector that mixes it in are the index worker's to add
afterwards (`index/indexer.py`): the row's `indexed` state says what is still to do, so a crash
leaves that work for the next start rather than losing it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from langmem_mcp.store import vector_rows
from langmem_mcp.store.index_state import SEND_BACK_NEIGHBOURS, Indexed
from langmem_mcp.store.sqlite import Database, now_iso, sha256_hex

if TYPE_CHECKING:
    import numpy as np


def content_hash(content: str) -> str:
    return sha256_hex(content)


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
    context: str = ""

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
            context=row["context"],
        )


_COLUMNS = "id, namespace, content, metadata, importance, created_at, updated_at, content_hash, context"


@dataclass(frozen=True)
class NewMemory:
    id: str
    namespace: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: str | None = None


class MemoryStore:
    """Memory rows and their FTS5 index. `reach` is how many neighbours on each side may hold a
    row in their context: a delete sends them back to the index worker."""

    def __init__(self, db: Database, reach: int) -> None:
        self.db = db
        self.reach = reach

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

    async def page(
        self,
        namespace: str,
        limit: int,
        after_rowid: int = 0,
        *,
        newest_first: bool = False,
        where: str = "",
        params: Sequence[Any] = (),
    ) -> list[tuple[int, MemoryRow]]:
        """Oldest first (or newest first, from before `after_rowid` when it is not 0), keyset-paged
        by rowid so a listing never costs more than a page; `where` filters (alias `m`)."""
        clauses: list[str] = ["m.namespace = ?"]
        args: list[Any] = [namespace]
        if after_rowid or not newest_first:
            clauses.append(f"m.rowid {'<' if newest_first else '>'} ?")
            args.append(after_rowid)
        if where:
            clauses.append(where)
            args += params
        rows = await self.db.fetchall(
            f"SELECT m.rowid AS rowid, {_COLUMNS} FROM memories m WHERE {' AND '.join(clauses)} "
            f"ORDER BY m.rowid {'DESC' if newest_first else 'ASC'} LIMIT ?",
            (*args, limit),
        )
        return [(r["rowid"], MemoryRow.from_row(r)) for r in rows]

    async def positions(
        self, ids: Sequence[str], keys: Sequence[str]
    ) -> dict[str, tuple[int, dict[str, Any], bool]]:
        """{id: (rowid, {key: value} of the metadata `keys` it has, whether it has a context)} of
        these memories: where each sits in the order of writes, and which conversation it is in."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        extracts = ", ".join(f"json_extract(metadata, '$.{k}')" for k in keys)
        rows = await self.db.fetchall(
            f"SELECT id, rowid, length(context) > 1, {extracts} FROM memories WHERE id IN ({marks})",
            list(ids),
        )
        return {
            r[0]: (r[1], {k: v for k, v in zip(keys, tuple(r)[3:], strict=True) if v is not None}, bool(r[2]))
            for r in rows
        }

    async def count(self, namespace: str, where: str = "", params: Sequence[Any] = ()) -> int:
        return int(
            await self.db.scalar(
                f"SELECT COUNT(*) FROM memories m WHERE m.namespace = ? {('AND ' + where) if where else ''}",
                (namespace, *params),
            )
        )

    async def version(self, namespace: str) -> str:
        """Changes whenever a memory of the namespace is added, changed or deleted."""
        row = await self.db.fetchone(
            "SELECT COUNT(*), MAX(rowid), MAX(updated_at) FROM memories WHERE namespace = ?", (namespace,)
        )
        return "" if row is None else f"{row[0]}:{row[1]}:{row[2]}"

    async def change_marker(self) -> tuple[int, int]:
        """Moves whenever anything is committed to the database, by this process or another (a
        cheap test before asking what changed)."""
        row = await self.db.fetchone("SELECT total_changes()")
        version = await self.db.scalar("PRAGMA data_version")
        return (version, 0 if row is None else row[0])

    async def lexical(
        self,
        match: str,
        namespace: str,
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        context_weight: float = 0.4,
        in_conversation: bool = False,
    ) -> list[tuple[str, float, str]]:
        """(id, BM25 score — higher is better, content) within one namespace, best first; the
        context column counts `context_weight` as much as the memory's own text. With
        `in_conversation`, only memories that have a context (a stored context is "before SEP
        after": longer than the separator alone)."""
        rank = f"bm25(memories_fts, 1.0, {float(context_weight)!r}, 0.0)"
        conditions = [c for c in (where, "length(m.context) > 1" if in_conversation else "") if c]
        sql = (
            f"SELECT m.id, -{rank}, m.content FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.namespace = ? {''.join(' AND ' + c for c in conditions)} "
            f"ORDER BY {rank} LIMIT ?"
        )
        rows = await self.db.fetchall(sql, (match, namespace, *params, limit))
        return [(r[0], r[1], r[2]) for r in rows]

    async def present(
        self, ids: Sequence[str], where: str = "", params: Sequence[Any] = ()
    ) -> dict[str, bool]:
        """Which of `ids` still exist, each with whether it passes the filter `where` (alias `m`;
        empty: every row passes)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(
            f"SELECT id, {f'({where})' if where else '1'} FROM memories m WHERE id IN ({marks})",
            (*params, *ids),
        )
        return {r[0]: bool(r[1]) for r in rows}

    async def known_hashes(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """{(namespace, content hash): id} of the memories that exist among `pairs`."""
        by_ns: dict[str, list[str]] = {}
        for ns, digest in pairs:
            by_ns.setdefault(ns, []).append(digest)
        out: dict[tuple[str, str], str] = {}
        for ns, digests in by_ns.items():
            for digest, mid in (await _known_hashes(self.db.conn, ns, list(dict.fromkeys(digests)))).items():
                out[(ns, digest)] = mid
        return out

    async def count_by_namespace(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT namespace, COUNT(*) FROM memories GROUP BY namespace")
        return {r[0]: r[1] for r in rows}

    # -- writes (each one transaction; acknowledged only after COMMIT) --------------------
    async def insert_many(
        self,
        items: Sequence[NewMemory],
        vectors: Sequence[np.ndarray | None],
        bulk: bool = False,
    ) -> list[tuple[NewMemory, str | None]]:
        """Insert rows with the vectors of their own texts, skipping verbatim duplicates within a
        namespace, in one transaction. Returns each item with the id of the existing memory when
        it was a duplicate (None when inserted); duplicates never touch the existing row. A row
        whose vector is None is left for the index worker to embed (MISSING)."""
        existing_of: dict[int, str] = {}
        by_ns: dict[str, list[int]] = {}
        for k, item in enumerate(items):
            by_ns.setdefault(item.namespace, []).append(k)
        fresh_state = Indexed.FRESH_BULK if bulk else Indexed.FRESH
        async with self.db.transaction() as conn:
            for ns, ks in by_ns.items():
                digests = {k: content_hash(items[k].content) for k in ks}
                known = await _known_hashes(conn, ns, list(dict.fromkeys(digests.values())))
                rows: list[tuple[Any, ...]] = []
                kept: list[tuple[str, str, np.ndarray]] = []
                for k in ks:
                    item, digest = items[k], digests[k]
                    if digest in known:
                        existing_of[k] = known[digest]
                        continue
                    known[digest] = item.id
                    created = item.created_at or now_iso()
                    state = Indexed.MISSING if vectors[k] is None else fresh_state
                    rows.append(
                        (item.id, ns, item.content, json.dumps(item.metadata), item.importance)
                        + (created, created, digest, int(state))
                    )
                    vector = vectors[k]
                    if vector is not None:
                        kept.append((ns, item.id, vector))
                await conn.executemany(
                    "INSERT INTO memories (id, namespace, content, metadata, importance, created_at,"
                    " updated_at, content_hash, indexed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                await conn.executemany(vector_rows.PUT, [(n, i, vector_rows.encode(v)) for n, i, v in kept])
        return [(item, existing_of.get(k)) for k, item in enumerate(items)]

    async def update(
        self,
        memory_id: str,
        content: str | None,
        metadata: dict[str, Any] | None,
        importance: float | None,
        vector: np.ndarray | None = None,
    ) -> MemoryRow | None:
        """Change a memory in place (new content comes with its own text's vector); returns the
        new row, None if the id is gone."""
        async with self.db.transaction() as conn:
            sets: list[str] = ["updated_at = ?"]
            params: list[Any] = [now_iso()]
            if content is not None:
                state = Indexed.MISSING if vector is None else Indexed.FRESH
                sets += ["content = ?", "content_hash = ?", "indexed = ?"]
                params += [content, content_hash(content), int(state)]
            if metadata is not None:
                sets.append("metadata = ?")
                params.append(json.dumps(metadata))
            if importance is not None:
                sets.append("importance = ?")
                params.append(importance)
            cur = await conn.execute(
                f"UPDATE memories SET {', '.join(sets)} WHERE id = ? RETURNING namespace",
                (*params, memory_id),
            )
            found = await cur.fetchone()
            await cur.close()
            if found is None:
                return None
            if content is not None and vector is not None:
                await conn.execute(vector_rows.PUT, (found[0], memory_id, vector_rows.encode(vector)))
        return await self.get(memory_id)

    async def delete(self, memory_id: str) -> bool:
        """Delete the row and leave a tombstone, so its vector is removed even after a crash; the
        neighbours whose context held it go back to the index worker."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT rowid, namespace FROM memories WHERE id = ?", (memory_id,)
            ) as cur:
                found = await cur.fetchone()
            if found is None:
                return False
            rowid, ns = found
            await conn.execute(SEND_BACK_NEIGHBOURS, (ns, rowid, self.reach))
            await conn.execute(
                "INSERT OR IGNORE INTO index_tombstones (id, namespace) VALUES (?, ?)", (memory_id, ns)
            )
            await conn.execute("DELETE FROM memories WHERE rowid = ?", (rowid,))
        return True

    # -- index bookkeeping -------------------------------------------------------------------
    async def clear_tombstones(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self.db.transaction() as conn:
            await conn.executemany("DELETE FROM index_tombstones WHERE id = ?", [(i,) for i in ids])

    async def pending(self) -> int:
        """Rows the index worker has yet to finish (contexts and vectors), bulk upgrades aside."""
        return int(
            await self.db.scalar(
                f"SELECT (SELECT COUNT(*) FROM memories WHERE indexed != 1 AND indexed != {int(Indexed.UPGRADE)})"
                " + (SELECT COUNT(*) FROM memories WHERE context_stale = 1)"
            )
        )


async def _known_hashes(conn: aiosqlite.Connection, ns: str, digests: list[str]) -> dict[str, str]:
    """{content hash: id} of the namespace's memories among `digests`."""
    known: dict[str, str] = {}
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        async with conn.execute(
            "SELECT content_hash, id FROM memories WHERE namespace = ? AND content_hash IN "
            f"({','.join('?' * len(chunk))})",
            (ns, *chunk),
        ) as cur:
            known |= {r[0]: r[1] for r in await cur.fetchall()}
    return known
