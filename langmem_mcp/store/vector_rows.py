"""Index vectors kept in SQLite beside their memories, for exact search within a namespace.

Chroma's HNSW query with a namespace filter costs time in proportion to the whole collection
(≈25 ms at 100k memories), and loading the collection costs memory in proportion to it too.
Most searches are in a namespace of hundreds or thousands of memories: reading their vectors
(a contiguous range of this table) and scoring them all takes about a millisecond and is exact.

Vectors are float16: half the space, and cosine scores agree with float32 to ~1e-3.
Only the index owner writes them (`put`, in the transaction that marks rows indexed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langmem_mcp.store.sqlite import Database

if TYPE_CHECKING:
    import numpy as np

STORED = "float16"


def encode(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=STORED).tobytes()


def put(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, np.ndarray]]) -> None:
    """(namespace, id, vector) rows, inside the caller's transaction."""
    conn.executemany(
        "INSERT OR REPLACE INTO memory_vectors (namespace, id, vector) VALUES (?, ?, ?)",
        [(ns, i, encode(v)) for ns, i, v in rows],
    )


def clear(conn: sqlite3.Connection) -> None:
    """Drop every vector (the embedding model changed: they are all re-made)."""
    conn.execute("DELETE FROM memory_vectors")


def missing(conn: sqlite3.Connection, limit: int) -> list[tuple[str, str]]:
    """(id, namespace) of rows the index holds but this table lacks (e.g. after an upgrade)."""
    return conn.execute(
        "SELECT m.id, m.namespace FROM memories m WHERE m.indexed != 0 AND NOT EXISTS "
        "(SELECT 1 FROM memory_vectors v WHERE v.namespace = m.namespace AND v.id = m.id) LIMIT ?",
        (limit,),
    ).fetchall()


class VectorRows:
    """Reads, from any process (no index owner involved)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def matrix(
        self, namespace: str, dim: int, limit: int, where: str = "", params: Sequence[Any] = ()
    ) -> tuple[list[str], np.ndarray] | None:
        """Ids and their vectors (float16, one row each) in a namespace, optionally filtered on
        the memory (`where` from engine.filters, alias `m`); None when there are more than
        `limit` (search those through the approximate index). Vectors of another dimension (left
        by a previous model until re-made) are skipped."""
        import numpy as np

        if where:
            sql = (
                "SELECT v.id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.id "
                f"WHERE v.namespace = ? AND {where} LIMIT ?"
            )
        else:
            sql = "SELECT id, vector FROM memory_vectors WHERE namespace = ? LIMIT ?"
        rows = await self.db.fetchall(sql, (namespace, *params, limit + 1))
        if len(rows) > limit:
            return None
        width = dim * np.dtype(STORED).itemsize
        rows = [r for r in rows if len(r[1]) == width]
        if not rows:
            return [], np.zeros((0, dim), dtype=STORED)
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=STORED).reshape(len(rows), dim)
        return [r[0] for r in rows], matrix
