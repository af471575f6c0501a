"""Memory rows in SQLite: CRUD, BM25 search through FTS5, and where each row stands in the index.

A write commits the row together with the vector of its own text, so it is found by keywords and
by meaning as soon as it is acknowledged. Its *context* (the memories of the same conversation
around it, an index-only column) and the vector that mixes it in are the index worker's to add
afterwards (`index/indexer.py`): the row's `indexed` state says what is still to do, so a crash
leaves that work for the next start rather than losing it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiosqlite

from langmem_mcp.store import vector_rows
from langmem_mcp.store.index_state import SEND_BACK_NEIGHBOURS, Indexed
from langmem_mcp.store.keywords import KeywordIndex
from langmem_mcp.store.sqlite import Database, now_iso, sha256_hex

if TYPE_CHECKING:
    import numpy as np


def content_hash(content: str) -> str:
    return sha256_hex(content)


def normalised(content: str) -> str:
    """The text as "the same memory" compares it: case folded, runs of whitespace as one space,
    without trailing punctuation ("I like tea!" is "i like tea"). Text that is nothing but
    punctuation keeps it."""
    text = " ".join(unicodedata.normalize("NFC", content).casefold().split())
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[:end] or text


def content_key(content: str) -> str:
    """What makes two memories of a namespace the same: the hash of their normalised text."""
    return sha256_hex(normalised(content))


def utc_text(value: str) -> str:
    """An ISO time as every time is stored: UTC, `datetime.isoformat()` ("…+00:00", microseconds
    when not 0). Such texts order as the times do. (A naive time is UTC; text that is not a
    time is left as it is.)"""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


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
    #: Valid from (its created_at unless given) until valid_to (None: true now).
    valid_from: str = ""
    valid_to: str | None = None
    superseded_by: str | None = None
    #: How the current version came about: created, updated or superseded (at updated_at).
    change: str = "created"

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
            valid_from=row["valid_from"],
            valid_to=row["valid_to"],
            superseded_by=row["superseded_by"],
            change=row["change"],
        )


_COLUMNS = (
    "id, namespace, content, metadata, importance, created_at, updated_at, content_hash, context, "
    "valid_from, valid_to, superseded_by, change"
)
#: A memory `m` that is true now (not superseded, not ended).
CURRENT = "m.valid_to IS NULL"


@dataclass(frozen=True)
class Version:
    """An earlier version of a memory, as memory_history keeps it."""

    content: str
    metadata: dict[str, Any]
    importance: float
    valid_from: str
    valid_to: str | None
    change: str
    changed_at: str


@dataclass(frozen=True)
class NewMemory:
    id: str
    namespace: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: str | None = None
    #: Validity, for memories that come with their own (imports); default: from created_at, open.
    valid_from: str | None = None
    valid_to: str | None = None


class Superseded(Exception):
    """The memory to supersede is no longer current: `by` replaced it already (None: it ended)."""

    def __init__(self, by: str | None) -> None:
        super().__init__(by)
        self.by = by


class SameContent(Exception):
    """The new text is the same as the memory it would supersede."""


@dataclass(frozen=True)
class Inserted:
    """What `insert_many` did: each item with the id of the memory it duplicated (None: it was
    inserted), and per namespace the vectors it added (so kept decoded copies can take them)."""

    outcome: list[tuple[NewMemory, str | None]]
    vectors: dict[str, vector_rows.Added]


class MemoryStore:
    """Memory rows and their FTS5 index. `reach` is how many neighbours on each side may hold a
    row in their context: a delete sends them back to the index worker."""

    def __init__(self, db: Database, reach: int) -> None:
        self.db = db
        self.reach = reach
        self._keyed = False
        self.keywords = KeywordIndex(db)

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

    async def find_current(self, namespace: str, key: str) -> MemoryRow | None:
        """The current memory of the namespace with this content_key, if any."""
        await self.ensure_keys()
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM memories m WHERE namespace = ? AND content_key = ? AND {CURRENT}",
            (namespace, key),
        )
        return MemoryRow.from_row(row) if row else None

    async def has_ended(self, namespace: str) -> bool:
        """Does the namespace hold any superseded (ended) memory? (partial index: microseconds)"""
        return (
            await self.db.fetchone(
                "SELECT 1 FROM memories WHERE namespace = ? AND valid_to IS NOT NULL LIMIT 1", (namespace,)
            )
            is not None
        )

    async def current_rows(self, namespace: str) -> list[MemoryRow]:
        """Every memory of a namespace that is true now, oldest first."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories m WHERE namespace = ? AND {CURRENT} ORDER BY rowid",
            (namespace,),
        )
        return [MemoryRow.from_row(r) for r in rows]

    async def ended_ids(self, namespace: str) -> set[str]:
        """The ids of the namespace's superseded (ended) memories (partial index: only those)."""
        rows = await self.db.fetchall(
            "SELECT id FROM memories WHERE namespace = ? AND valid_to IS NOT NULL", (namespace,)
        )
        return {r[0] for r in rows}

    async def versions(self, memory_id: str) -> list[Version]:
        """The earlier versions of a memory, oldest first (the current one is its row)."""
        rows = await self.db.fetchall(
            "SELECT content, metadata, importance, valid_from, valid_to, change, changed_at "
            "FROM memory_history WHERE memory_id = ? ORDER BY seq",
            (memory_id,),
        )
        return [Version(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def superseded_ids(self, memory_id: str) -> list[str]:
        """The memories this one superseded, oldest first."""
        rows = await self.db.fetchall(
            "SELECT id FROM memories WHERE superseded_by = ? ORDER BY rowid", (memory_id,)
        )
        return [r[0] for r in rows]

    async def namespace_page(
        self, after: str, limit: int, prefix: str | None = None
    ) -> list[tuple[str, int, int]]:
        """(namespace, memories, current ones) in namespace order after `after`, only those equal
        to or under `prefix` when given (segment-wise)."""
        where, params = "namespace > ?", [after]
        if prefix is not None:
            # under "a/b": "a/b" itself, or between "a/b/" and "a/b0" ('0' follows '/')
            where += " AND (namespace = ? OR (namespace > ? AND namespace < ?))"
            params += [prefix, prefix + "/", prefix + "0"]
        rows = await self.db.fetchall(
            f"SELECT namespace, COUNT(*), COUNT(*) - COUNT(valid_to) FROM memories WHERE {where} "
            "GROUP BY namespace ORDER BY namespace LIMIT ?",
            (*params, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def ensure_keys(self) -> None:
        """Finish schema 9 for rows stored before it (once per process; a no-op after): their
        content_key, and their created_at / valid_from in the one UTC spelling every time is
        written in, so times compare as text (an import used to keep a file's "Z")."""
        if self._keyed:
            return
        while True:
            rows = await self.db.fetchall(
                "SELECT rowid, content, created_at, valid_from FROM memories WHERE content_key IS NULL LIMIT 2000"
            )
            if not rows:
                break
            async with self.db.transaction() as conn:
                await conn.executemany(
                    "UPDATE memories SET content_key = ?, created_at = ?, valid_from = ? "
                    "WHERE rowid = ? AND content_key IS NULL",
                    [(content_key(r[1]), utc_text(r[2]), utc_text(r[3]), r[0]) for r in rows],
                )
        self._keyed = True

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

    async def known_keys(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """{(namespace, content_key): id} of the current memories among `pairs`."""
        await self.ensure_keys()
        by_ns: dict[str, list[str]] = {}
        for ns, key in pairs:
            by_ns.setdefault(ns, []).append(key)
        out: dict[tuple[str, str], str] = {}
        for ns, keys in by_ns.items():
            for (key, valid_to), mid in (
                await _known_keys(self.db.conn, ns, list(dict.fromkeys(keys)))
            ).items():
                if valid_to is None:
                    out[(ns, key)] = mid
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
    ) -> Inserted:
        """Insert rows with the vectors of their own texts, in one transaction, skipping a memory
        the namespace already holds: the same normalised text and the same end of validity (for
        a new memory: a current one). Returns each item with the id of the existing memory when
        it was a duplicate (None when inserted); duplicates never touch the existing row. A row
        whose vector is None is left for the index worker to embed (MISSING)."""
        await self.ensure_keys()
        existing_of: dict[int, str] = {}
        added: dict[str, vector_rows.Added] = {}
        by_ns: dict[str, list[int]] = {}
        for k, item in enumerate(items):
            by_ns.setdefault(item.namespace, []).append(k)
        async with self.db.transaction() as conn:
            for ns, ks in by_ns.items():
                duplicates, vectors_added = await _insert_rows(
                    conn,
                    ns,
                    [(k, items[k], vectors[k]) for k in ks],
                    Indexed.FRESH_BULK if bulk else Indexed.FRESH,
                )
                existing_of |= duplicates
                if vectors_added is not None:
                    added[ns] = vectors_added
        return Inserted([(item, existing_of.get(k)) for k, item in enumerate(items)], added)

    async def update(
        self,
        memory_id: str,
        content: str | None,
        metadata: dict[str, Any] | None,
        importance: float | None,
        vector: np.ndarray | None = None,
        *,
        keep_history: bool = True,
    ) -> MemoryRow | None:
        """A correction: change a memory in place (new content comes with its own text's vector),
        the version it replaces kept in its history (unless not `keep_history`: redacting a
        secret keeps no copy of it, and the memory's last change, its time and its validity stay
        as they were: a superseded memory stays superseded); returns the new row, None if the id
        is gone."""
        sets: list[str] = ["updated_at = ?", "change = 'updated'"] if keep_history else []
        params: list[Any] = [now_iso()] if keep_history else []
        if content is not None:
            state = Indexed.MISSING if vector is None else Indexed.FRESH
            sets += ["content = ?", "content_hash = ?", "content_key = ?", "indexed = ?"]
            params += [content, content_hash(content), content_key(content), int(state)]
        if metadata is not None:
            sets.append("metadata = ?")
            params.append(json.dumps(metadata))
        if importance is not None:
            sets.append("importance = ?")
            params.append(importance)
        if not sets:  # a rewrite that changes nothing
            return await self.get(memory_id)
        async with self.db.transaction() as conn:
            if keep_history:
                await _keep_version(conn, memory_id)
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

    async def supersede(
        self, old_id: str, new: NewMemory, vector: np.ndarray | None
    ) -> tuple[str, bool] | None:
        """The world changed: store `new` (or find the current memory that already says it) and
        end `old_id` at `new.created_at`, superseded by it, in one transaction. Returns the id
        holding the new fact and whether it was inserted; None if `old_id` is gone. Raises
        Superseded if it is no longer current, SameContent if `new` says the same."""
        assert new.created_at is not None
        await self.ensure_keys()
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT namespace, content_key, valid_to, superseded_by FROM memories WHERE id = ?", (old_id,)
            ) as cur:
                old = await cur.fetchone()
            if old is None:
                return None
            if old[2] is not None:
                raise Superseded(old[3])
            if content_key(new.content) == old[1]:
                raise SameContent()
            existing, _ = await _insert_rows(conn, old[0], [(0, new, vector)], Indexed.FRESH)
            new_id = existing.get(0, new.id)
            await _keep_version(conn, old_id)
            await conn.execute(
                "UPDATE memories SET valid_to = ?, superseded_by = ?, change = 'superseded', updated_at = ? "
                "WHERE id = ?",
                (new.created_at, new_id, new.created_at, old_id),
            )
        return new_id, 0 not in existing

    async def end(self, old_id: str, by: str, at: str) -> bool:
        """`by` (an existing memory) supersedes `old_id` at `at`; False if that is no longer current."""
        async with self.db.transaction() as conn:
            if (
                await _one(conn, "SELECT 1 FROM memories WHERE id = ? AND valid_to IS NULL", (old_id,))
                is None
            ):
                return False
            await _keep_version(conn, old_id)
            await conn.execute(
                "UPDATE memories SET valid_to = ?, superseded_by = ?, change = 'superseded', updated_at = ? "
                "WHERE id = ?",
                (at, by, at, old_id),
            )
        return True

    async def set_validity(self, links: Sequence[tuple[str, str | None, str, str | None]]) -> None:
        """(id, superseded_by, change, updated_at or None to keep it) of imported memories, set
        after all of them are stored (a memory names one stored after it)."""
        if not links:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE memories SET superseded_by = ?, change = ?, updated_at = COALESCE(?, updated_at) "
                "WHERE id = ?",
                [(by, change, updated, i) for i, by, change, updated in links],
            )

    async def add_versions(self, versions: Sequence[tuple[str, Version]]) -> None:
        """(memory id, version) rows of history, oldest first (imports)."""
        if not versions:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO memory_history (memory_id, content, metadata, importance, valid_from, valid_to,"
                " change, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i,
                        v.content,
                        json.dumps(v.metadata),
                        v.importance,
                        v.valid_from,
                        v.valid_to,
                        v.change,
                        v.changed_at,
                    )
                    for i, v in versions
                ],
            )

    async def delete(self, memory_id: str) -> bool:
        """Delete the row and leave a tombstone, so its vector is removed even after a crash; its
        history goes with it (trigger memories_forget); the neighbours whose context held it go
        back to the index worker."""
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


async def _one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Any:
    async with conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return None if row is None else row[0]


async def _keep_version(conn: aiosqlite.Connection, memory_id: str) -> None:
    """Copy a memory's current version into its history (inside the caller's transaction)."""
    await conn.execute(
        "INSERT INTO memory_history (memory_id, content, metadata, importance, valid_from, valid_to,"
        " change, changed_at) SELECT id, content, metadata, importance, valid_from, valid_to, change,"
        " updated_at FROM memories WHERE id = ?",
        (memory_id,),
    )


async def _known_keys(
    conn: aiosqlite.Connection, ns: str, keys: list[str]
) -> dict[tuple[str, str | None], str]:
    """{(content_key, valid_to): id} of the namespace's memories among `keys` (the first of each)."""
    known: dict[tuple[str, str | None], str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        async with conn.execute(
            "SELECT content_key, valid_to, id FROM memories WHERE namespace = ? AND content_key IN "
            f"({','.join('?' * len(chunk))})",
            (ns, *chunk),
        ) as cur:
            for r in await cur.fetchall():
                known.setdefault((r[0], r[1]), r[2])
    return known


async def _insert_rows(
    conn: aiosqlite.Connection,
    ns: str,
    batch: Sequence[tuple[int, NewMemory, np.ndarray | None]],
    fresh_state: Indexed,
) -> tuple[dict[int, str], vector_rows.Added | None]:
    """Insert one namespace's share of a write (inside the caller's transaction), each row with
    its own text's vector; returns {position: existing id} of the duplicates left out, and the
    vectors added with the namespace's vector version after them."""
    digests = {k: (content_key(item.content), item.valid_to) for k, item, _ in batch}
    known = await _known_keys(conn, ns, list(dict.fromkeys(key for key, _ in digests.values())))
    duplicates: dict[int, str] = {}
    rows: list[tuple[Any, ...]] = []
    kept: list[tuple[str, str, bytes]] = []
    new_vectors: list[tuple[str, np.ndarray]] = []
    for k, item, vector in batch:
        if digests[k] in known:
            duplicates[k] = known[digests[k]]
            continue
        known[digests[k]] = item.id
        created = item.created_at or now_iso()
        state = Indexed.MISSING if vector is None else fresh_state
        rows.append(
            (item.id, ns, item.content, json.dumps(item.metadata), item.importance, created, created)
            + (
                content_hash(item.content),
                int(state),
                digests[k][0],
                item.valid_from or created,
                item.valid_to,
            )
        )
        if vector is not None:
            kept.append((ns, item.id, vector_rows.encode(vector)))
            new_vectors.append((item.id, vector))
    await conn.executemany(
        "INSERT INTO memories (id, namespace, content, metadata, importance, created_at, updated_at,"
        " content_hash, indexed, content_key, valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    await conn.executemany(vector_rows.PUT, kept)
    if not kept:
        return duplicates, None
    async with conn.execute(vector_rows.VERSION, (ns,)) as cur:
        version = await cur.fetchone()
    return duplicates, vector_rows.Added(int(version[0]), new_vectors) if version else None
