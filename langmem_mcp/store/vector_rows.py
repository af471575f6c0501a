"""Index vectors kept in SQLite beside their memories, for exact search within a namespace.

Chroma's HNSW query with a namespace filter costs time in proportion to the whole collection
(≈25 ms at 100k memories), and loading the collection costs memory in proportion to it too.
Most searches are in a namespace of hundreds or thousands of memories: reading their vectors
(a contiguous range of this table) and scoring them all takes about a millisecond and is exact.

Vectors are float16: half the space, and cosine scores agree with float32 to ~1e-3.
A write stores its own text's vector in the transaction that commits the row; the index owner
replaces it with the context vector (`put`, in the transaction that marks the row indexed), and
fills the collections of large namespaces from them (`page`).
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langmem_mcp.store.index_state import NOT_IN_COLLECTION
from langmem_mcp.store.sqlite import Database

if TYPE_CHECKING:
    import numpy as np

STORED = "float16"


def encode(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=STORED).tobytes()


PUT = "INSERT OR REPLACE INTO memory_vectors (namespace, id, vector) VALUES (?, ?, ?)"


def decode(blob: bytes, dim: int) -> np.ndarray:
    """One stored vector as float32 (a zero vector if it has another width)."""
    import numpy as np

    vector = np.frombuffer(blob, dtype=STORED)
    return vector.astype(np.float32) if vector.shape[0] == dim else np.zeros(dim, dtype=np.float32)


def put(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, np.ndarray]]) -> None:
    """(namespace, id, vector) rows, inside the caller's transaction."""
    conn.executemany(PUT, [(ns, i, encode(v)) for ns, i, v in rows])


def clear(conn: sqlite3.Connection) -> None:
    """Drop every vector (the embedding model changed: they are all re-made)."""
    conn.execute("DELETE FROM memory_vectors")


#: A memory `m` marked indexed whose vector this table lacks (e.g. after an upgrade).
LACKING = (
    "m.indexed != 0 AND NOT EXISTS "
    "(SELECT 1 FROM memory_vectors v WHERE v.namespace = m.namespace AND v.id = m.id)"
)
#: Namespaces holding more than ? memories (read from the namespace index of memories).
NAMESPACES_OVER = "SELECT namespace FROM memories GROUP BY namespace HAVING COUNT(*) > ?"


def missing(conn: sqlite3.Connection, limit: int) -> list[tuple[str, str]]:
    """(id, namespace) of the rows LACKING a vector."""
    return conn.execute(
        f"SELECT m.id, m.namespace FROM memories m WHERE {LACKING} LIMIT ?", (limit,)
    ).fetchall()


#: A memory of the namespace past the first ? (so it holds more than ?), found in memories'
#: narrow namespace index without counting them all: what makes a namespace large.
MEMORY_PAST = "SELECT 1 FROM memories WHERE namespace = ?1 LIMIT 1 OFFSET ?2"


def larger_than(conn: sqlite3.Connection, namespace: str, size: int) -> bool:
    return conn.execute(MEMORY_PAST, (namespace, size)).fetchone() is not None


def namespaces_over(conn: sqlite3.Connection, size: int) -> list[str]:
    return [r[0] for r in conn.execute(NAMESPACES_OVER, (size,))]


def _decode(rows: Sequence[Any], dim: int) -> tuple[list[str], np.ndarray]:
    """Ids and their stored vectors as one (len(rows), dim) float32 matrix."""
    import numpy as np

    if not rows:
        return [], np.zeros((0, dim), dtype=np.float32)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=STORED).reshape(len(rows), dim)
    return [r[0] for r in rows], matrix.astype(np.float32)


def page(
    conn: sqlite3.Connection, namespace: str, after: str, limit: int, dim: int
) -> tuple[list[str], np.ndarray]:
    """The next `limit` (id, vector) of a namespace in id order, after id `after`."""
    rows = conn.execute(
        "SELECT id, vector FROM memory_vectors WHERE namespace = ? AND id > ? ORDER BY id LIMIT ?",
        (namespace, after, limit),
    ).fetchall()
    return _decode(rows, dim)


#: Decoded vectors kept in memory, over every cached namespace (float32: 1.5 KiB each, so 40 MiB).
CACHE_ROWS = 25_000
#: A namespace found larger than exact search takes is taken to be so for this long without
#: asking again (three queries per search or create). Wrong only after mass deletes, and then
#: harmlessly: its collection still answers, or without one every vector is scored.
LARGE_TTL_S = 30.0
VERSION = "SELECT version FROM vector_versions WHERE namespace = ?"


@dataclass(frozen=True)
class Added:
    """Vectors one transaction added to a namespace, and its vector version after them."""

    version: int
    rows: list[tuple[str, np.ndarray]]


@dataclass
class _Decoded:
    version: int
    ids: list[str]
    matrix: np.ndarray


class VectorRows:
    """Reads, from any process (no index owner involved). A namespace's vectors, once decoded,
    stay in memory while its version (schema/v012) says nothing changed them: a search or a
    similarity check then reads one row, not every vector of the namespace."""

    def __init__(self, db: Database, cache_rows: int = CACHE_ROWS) -> None:
        self.db = db
        self.cache_rows = cache_rows
        self._cache: OrderedDict[tuple[str, int], _Decoded] = OrderedDict()
        #: {(namespace, limit): when it was last found larger than limit}
        self._large: dict[tuple[str, int], float] = {}

    def added(self, namespace: str, added: Added) -> None:
        """This process committed `added`: a kept copy that was current just before takes the new
        vectors (each write would otherwise make the next search read the namespace again);
        one that missed another change meanwhile is dropped."""
        import numpy as np

        for key in [k for k in self._cache if k[0] == namespace]:
            kept = self._cache[key]
            dim = key[1]
            fits = [(i, v) for i, v in added.rows if len(v) == dim]
            if kept.version + len(added.rows) != added.version or len(fits) != len(added.rows):
                del self._cache[key]
                continue
            new = np.asarray([v for _, v in fits], dtype=np.float16).astype(np.float32)  # as stored
            self._cache[key] = _Decoded(
                added.version, kept.ids + [i for i, _ in fits], np.vstack([kept.matrix, new])
            )
        while sum(len(d.ids) for d in self._cache.values()) > self.cache_rows:
            self._cache.popitem(last=False)

    async def _cached(
        self,
        namespace: str,
        dim: int,
        limit: int,
        read: Callable[[], Awaitable[tuple[list[str], np.ndarray] | None]],
    ) -> tuple[list[str], np.ndarray] | None:
        """`read()`, or what it returned before if the namespace's vectors did not change since
        (None once it outgrew `limit`). The version is read first: a change committed meanwhile
        makes the next call read again."""
        version = await self.db.scalar(VERSION, (namespace,))
        key = (namespace, dim)
        kept = self._cache.get(key)
        if kept is not None and version is not None and kept.version == version:
            if len(kept.ids) > limit:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return kept.ids, kept.matrix
        out = await read()
        self._cache.pop(key, None)
        if out is not None and version is not None and len(out[0]) <= self.cache_rows:
            self._cache[key] = _Decoded(int(version), *out)
            while sum(len(d.ids) for d in self._cache.values()) > self.cache_rows:
                self._cache.popitem(last=False)
        return out

    async def fresh(
        self, namespace: str, dim: int, where: str = "", params: Sequence[Any] = ()
    ) -> tuple[list[str], np.ndarray]:
        """Ids and kept vectors of the namespace's rows not yet in its Chroma collection (written
        since the index worker last ran), optionally filtered (`where`, alias `m`)."""
        states = ",".join(str(int(s)) for s in NOT_IN_COLLECTION)
        # CROSS JOIN keeps the pending rows (a partial index, usually few) as the outer loop: left
        # to itself, SQLite read every vector of the namespace first (175 ms at 100k, per search).
        rows = await self.db.fetchall(
            "SELECT v.id, v.vector FROM memories m CROSS JOIN memory_vectors v ON v.namespace = m.namespace "
            f"AND v.id = m.id WHERE m.indexed != 1 AND m.indexed IN ({states}) AND m.namespace = ? "
            f"AND length(v.vector) = ? {('AND ' + where) if where else ''}",
            (namespace, dim * 2, *params),
        )
        return _decode(rows, dim)

    async def matrix(
        self, namespace: str, dim: int, limit: int | None, where: str = "", params: Sequence[Any] = ()
    ) -> tuple[list[str], np.ndarray] | None:
        """Ids and their vectors (float32, one row each) in a namespace, optionally filtered on
        the memory (`where` from engine.filters, alias `m`); None when the namespace holds more
        than `limit` memories (with a filter: that pass it), to search through the approximate
        index. Vectors of another dimension (left by a previous model until re-made) are skipped."""
        import numpy as np

        width = dim * np.dtype(STORED).itemsize
        if where:
            sql = (
                "SELECT v.id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.id "
                f"WHERE v.namespace = ? AND length(v.vector) = ? AND {where} LIMIT ?"
            )
            cap = -1 if limit is None else limit + 1
            rows = await self.db.fetchall(sql, (namespace, width, *params, cap))
            if limit is not None and len(rows) > limit:
                return None
            return _decode(rows, dim)
        # Unfiltered, a namespace is large by its number of memories, as for the indexer, and
        # no vector of a large one is read: the guard is the CROSS JOIN's outer loop (SQLite
        # keeps that order), so when it yields no row the vectors are never scanned.
        if limit is None:
            sql = "SELECT id, vector FROM memory_vectors WHERE namespace = ? AND length(vector) = ?"
            return _decode(await self.db.fetchall(sql, (namespace, width)), dim)

        seen_large = self._large.get((namespace, limit))
        if seen_large is not None and time.monotonic() - seen_large < LARGE_TTL_S:
            return None

        async def read() -> tuple[list[str], np.ndarray] | None:
            sql = (
                f"SELECT v.id, v.vector FROM (SELECT 1 WHERE NOT EXISTS ({MEMORY_PAST})) "
                "CROSS JOIN memory_vectors v WHERE v.namespace = ?1 AND length(v.vector) = ?3"
            )
            rows = await self.db.fetchall(sql, (namespace, limit, width))
            if not rows and await self.db.fetchall(MEMORY_PAST, (namespace, limit)):
                self._large[(namespace, limit)] = time.monotonic()
                return None
            return _decode(rows, dim)

        return await self._cached(namespace, dim, limit, read)
