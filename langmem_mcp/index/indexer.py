"""The index owner's worker: finishes what writes leave to it, and writes Chroma.

Every memory's vector is kept beside its row in SQLite (`store/vector_rows.py`), so namespaces of
up to `exact_search_max` memories are searched exactly from there; larger namespaces also get a
Chroma collection (`index/chroma.py`). A write commits its row with its own text's vector; the
indexer then works out the row's context (`index/context_rows.py`), sends the neighbours whose
context it touches back, makes the vector that mixes the context in, and puts it in Chroma when
the namespace has a collection. The row's `indexed` state (`store.memories.Indexed`) says what is
left, so a crash at any point leaves work the next pass finishes; every vector is checked against
the row it was made from, so writes racing from several processes end with the newest indexed.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langmem_mcp.engine.context import ContextPolicy, VectorMode, embed_memories, split
from langmem_mcp.index import context_rows
from langmem_mcp.store import vector_rows
from langmem_mcp.store.index_state import Indexed
from langmem_mcp.store.sqlite import immediate_transaction

if TYPE_CHECKING:  # numpy and chromadb load with the index, after the handshake
    import numpy as np

    from langmem_mcp.index.chroma import VectorIndex
    from langmem_mcp.index.embeddings import Embedder

log = logging.getLogger(__name__)

#: Vectors made per step: a stop or an arriving write waits for at most one step (64 windows of
#: talk take about half a second on 2 cores).
RECONCILE_BATCH = 64
#: Rows whose context one transaction works out (short, so writers never wait long on it).
CONTEXT_BATCH = 64
#: Vectors copied from SQLite into a namespace's new Chroma collection per step (under the lock).
FILL_BATCH = 1000
#: `meta` key naming the model the vectors kept in SQLite were made by.
INDEX_MODEL_KEY = "index_model"


def fingerprint(content_hash: str, context: str = "") -> str:
    """What a vector was computed from; a row whose fingerprint changed needs a new one."""
    return hashlib.sha256(f"{content_hash}\x00{context}".encode("utf-8", "surrogatepass")).hexdigest()


def row_vectors(
    embedder: Embedder,
    rows: Sequence[Any],
    mode: VectorMode = "window",
    own: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """The vector each row is indexed under: the memory mixed with its context (engine.context);
    `own`: vectors of rows' own texts already made."""
    return embed_memories(embedder, rows, mode, own)


MISSING, INDEXED, UPGRADE = Indexed.MISSING, Indexed.INDEXED, Indexed.UPGRADE
#: The worker upgrades bulk-written vectors a batch at a time.
UPGRADE_BATCH = 64
#: The state list every query of pending rows repeats, so SQLite uses the partial index on them.
PENDING = "indexed != 1"


@dataclass(frozen=True)
class IndexItem:
    """A vector to store for a row, with what it was made from (`fingerprint`)."""

    id: str
    namespace: str
    fingerprint: str
    state: int = INDEXED


class Indexer:
    """The owner's side: the only code that writes index vectors (SQLite's and Chroma's).

    Every change goes through one lock and is checked against SQLite first: a vector is stored
    and its row marked indexed only if the row still has the content the vector was made from.
    So writes racing from any process end with the newest content indexed, and a crash at any
    point leaves `indexed = 0` or a tombstone for the next pass to finish.

    A namespace that outgrows exact search (`exact_max` memories) gets a Chroma collection,
    filled from the vectors in SQLite (`grow`); from then on its writes go to both.
    """

    def __init__(
        self,
        index: VectorIndex,
        db_path: Path,
        mode: VectorMode = "window",
        exact_max: int = 5000,
        policy: ContextPolicy | None = None,
    ) -> None:
        self.index = index
        self.mode = mode
        self.exact_max = exact_max
        self.policy = policy or ContextPolicy()
        #: Namespaces written since `grow` last checked whether they outgrew exact search.
        self._grown: set[str] = set()
        self.conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA busy_timeout = 30000")
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(memories)")}
        self._context_col = "context" if "context" in cols else "''"
        self.lock = threading.Lock()
        self._data_version = -1

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def _current(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for i, h, c in self.conn.execute(
                f"SELECT id, content_hash, {self._context_col} FROM memories WHERE id IN ({marks})", chunk
            ):
                out[i] = fingerprint(h, c)
        return out

    def apply(self, items: Sequence[IndexItem], vectors: np.ndarray) -> set[str]:
        """Store the vectors of rows still as they were embedded (in Chroma, and beside the rows
        for exact search); mark those rows as the items say. Returns the ids stored."""
        with self.lock:
            current = self._current([it.id for it in items])
            keep = [k for k, it in enumerate(items) if current.get(it.id) == it.fingerprint]
            if not keep:
                return set()
            fresh = [items[k] for k in keep]
            by_ns: dict[str, list[int]] = {}
            for k in keep:
                by_ns.setdefault(items[k].namespace, []).append(k)
            for ns, ks in by_ns.items():
                self.index.upsert(ns, [items[k].id for k in ks], vectors[ks])
            with immediate_transaction(self.conn):
                # Checked again inside the transaction: another process may have changed a row
                # while its vector was being stored.
                now = self._current([it.id for it in fresh])
                marked = [
                    (k, it) for k, it in zip(keep, fresh, strict=True) if now.get(it.id) == it.fingerprint
                ]
                self.conn.executemany(
                    "UPDATE memories SET indexed = ? WHERE id = ?", [(it.state, it.id) for _, it in marked]
                )
                vector_rows.put(self.conn, [(it.namespace, it.id, vectors[k]) for k, it in marked])
            self._grown.update(ns for ns in by_ns if not self.index.holds(ns))
            return {it.id for _, it in marked}

    def prepare(self) -> None:
        """At the owner's start: make sure the vectors kept in SQLite are this model's, and take
        over a data dir from before schema 8 (one collection for every namespace)."""
        key = f"{self.index.embedder.model_id}:{self.index.embedder.dim}"
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (INDEX_MODEL_KEY,)).fetchone()
        saved = row[0] if row else None
        if self.index.model_changed or (saved is not None and saved != key):
            self.index.drop_all()
            self.forget_all()
        elif saved is None:  # the first start since this was recorded: check every row has one
            self.copy_vectors()
        self.index.drop_legacy()
        with self.lock, immediate_transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (INDEX_MODEL_KEY, key)
            )

    def forget_all(self) -> None:
        """Another model made the vectors: every row must be embedded again."""
        with self.lock, immediate_transaction(self.conn):
            self.conn.execute("UPDATE memories SET indexed = 0 WHERE indexed != 0")
            vector_rows.clear(self.conn)

    def copy_vectors(self) -> int:
        """Copy into SQLite the vectors of indexed rows that only the old single Chroma collection
        holds (a data dir from before schema 6); rows without one anywhere are marked for
        re-embedding. Returns how many were copied. Run once per data dir (`prepare`): every row
        is since marked indexed in the transaction that stores its vector, and the check reads
        every row (≈0.3 s at 100k memories)."""
        done = 0
        while True:
            with self.lock:
                want = vector_rows.missing(self.conn, RECONCILE_BATCH)
                if not want:
                    return done
                got = self.index.legacy_vectors([i for i, _ in want])
                with immediate_transaction(self.conn):
                    vector_rows.put(self.conn, [(ns, i, got[i]) for i, ns in want if i in got])
                    self.conn.executemany(
                        "UPDATE memories SET indexed = 0 WHERE id = ?",
                        [(i,) for i, _ in want if i not in got],
                    )
                done += len(got)

    def grow(self, everywhere: bool = False) -> list[str]:
        """Give each namespace that outgrew exact search a Chroma collection, filled from the
        vectors in SQLite (no model needed). Checks the namespaces written since the last call,
        or all of them. Returns the namespaces filled."""
        with self.lock:
            if everywhere:
                over = vector_rows.namespaces_over(self.conn, self.exact_max)
            else:
                over = [ns for ns in self._grown if vector_rows.larger_than(self.conn, ns, self.exact_max)]
            self._grown.clear()
            filled = self.index.filled()
            todo = [ns for ns in over if ns not in filled]
        for ns in todo:
            self._fill(ns)
        return todo

    def _fill(self, namespace: str) -> None:
        # From start_filling on, apply() writes the namespace's new vectors to the collection
        # too; each page is read and stored under the lock, so a newer vector is never
        # overwritten by an older one.
        self.index.start_filling(namespace)
        after = ""
        while True:
            with self.lock:
                ids, vectors = vector_rows.page(
                    self.conn, namespace, after, FILL_BATCH, self.index.embedder.dim
                )
                if not ids:
                    break
                self.index.upsert(namespace, ids, vectors)
            after = ids[-1]
        self.index.finish_filling(namespace)
        log.info("namespace %r outgrew exact search: approximate index filled", namespace)

    def delete(self, namespace: str | None, ids: Sequence[str]) -> None:
        with self.lock:
            self.index.delete(namespace, ids)

    def changed(self) -> bool:
        """Did another connection commit since the last call? (cheap: PRAGMA data_version)"""
        with self.lock:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    def backlog(self) -> int:
        """Rows whose context or vector is still to be made (bulk upgrades aside)."""
        with self.lock:
            return int(
                self.conn.execute(
                    f"SELECT (SELECT COUNT(*) FROM memories WHERE {PENDING} AND indexed != {Indexed.UPGRADE:d})"
                    " + (SELECT COUNT(*) FROM memories WHERE context_stale = 1)"
                ).fetchone()[0]
            )

    def sync(
        self, embedder: Embedder, yield_to: Callable[[], bool] | None = None, missing_only: bool = False
    ) -> int:
        """Finish what SQLite says the index lacks: deletes (tombstones), contexts, vectors;
        returns how many vectors were made. `yield_to` says when to stop after a batch (writes
        are arriving: the rest is left for the next call). (Stray vectors, with no memory behind
        them, are dropped when a search meets them: counting a collection loads its whole HNSW
        graph.)

        `missing_only`, at the owner's start: only what search cannot do without, a vector for
        each row that has none (a write whose embedding failed). Rows that have their own text's
        vector are searchable already; their contexts and context vectors are the worker's, in
        the background, so a start after a large import answers at once."""
        self._drop_tombstones()
        done = 0
        skip: set[str] = set()
        while True:
            if missing_only:
                settled = 0
                made, missed = self._make_vectors(embedder, skip, (Indexed.MISSING,))
            else:
                settled = self._settle_contexts()
                made, missed = self._make_vectors(embedder, skip)
            done += made
            skip |= missed  # changed while being embedded: the next call takes them
            if (not settled and not made) or (yield_to is not None and yield_to()):
                return done

    def settle(self, until: float) -> None:
        """Settle written rows' contexts without encoding anything, until done or `until`
        (monotonic): at a clean stop, rows whose own vector is final are left indexed, and only
        those needing a context vector wait for the next start."""
        while time.monotonic() < until and self._settle_contexts():
            pass

    def _drop_tombstones(self) -> None:
        while True:
            with self.lock:
                dead = self.conn.execute("SELECT namespace, id FROM index_tombstones LIMIT 1000").fetchall()
                if not dead:
                    return
                by_ns: dict[str | None, list[str]] = {}
                for ns, i in dead:
                    by_ns.setdefault(ns, []).append(i)
                for ns, ids in by_ns.items():
                    self.index.delete(ns, ids)
                self.conn.executemany("DELETE FROM index_tombstones WHERE id = ?", [(i,) for _, i in dead])

    def _settle_contexts(self) -> int:
        """Work out the context of a batch of written rows (FRESH, FRESH_BULK) and of rows whose
        neighbours changed (`context_stale`), in one short transaction; a written row sends its
        neighbours back (their context may hold it); each row moves on to the vector it needs.
        Returns the rows settled."""
        plain_mode = self.mode == "off"
        with self.lock, immediate_transaction(self.conn):
            rows = self.conn.execute(
                "SELECT rowid, namespace, indexed, context FROM (SELECT rowid, namespace, indexed, context "
                f"FROM memories WHERE {PENDING} AND indexed IN ({Indexed.FRESH:d}, {Indexed.FRESH_BULK:d}) "
                "UNION SELECT rowid, namespace, indexed, context FROM memories WHERE context_stale = 1) "
                "ORDER BY rowid LIMIT ?",
                (CONTEXT_BATCH,),
            ).fetchall()
            moves = []
            for rowid, ns, state, old in rows:
                new = context_rows.context_of(self.conn, rowid, self.policy)
                if new is None:
                    continue
                own_is_final = plain_mode or not any(split(new))
                small = not self.index.holds(ns)
                if state in (Indexed.FRESH, Indexed.FRESH_BULK):
                    context_rows.touch_neighbours(self.conn, ns, rowid, self.policy.reach)
                    if own_is_final and small:
                        nxt = Indexed.INDEXED  # its own text's vector, kept already, is the one
                    elif state == Indexed.FRESH_BULK and small:
                        nxt = Indexed.UPGRADE  # made as configured when the worker is idle
                    else:
                        nxt = Indexed.OWN
                elif state == Indexed.INDEXED and new != old and not plain_mode:
                    nxt = Indexed.STALE
                else:
                    nxt = Indexed(state)  # its vector is still to be made, from the new context
                moves.append((new, int(nxt), rowid))
                self._grown.add(ns)
            self.conn.executemany(
                "UPDATE memories SET context = ?, indexed = ?, context_stale = 0 WHERE rowid = ?", moves
            )
        return len(rows)

    def _make_vectors(
        self,
        embedder: Embedder,
        skip: set[str],
        states: Sequence[Indexed] = (Indexed.OWN, Indexed.STALE, Indexed.MISSING),
    ) -> tuple[int, set[str]]:
        """Make and store the final vectors of a batch of rows whose context is settled (OWN:
        their own text's vector is kept; STALE and MISSING: made whole). Returns (made, missed)."""
        wanted = ", ".join(str(int(state)) for state in states)
        with self.lock:
            rows = self.conn.execute(
                "SELECT m.id, m.namespace, m.content, m.content_hash, m.context, m.indexed, v.vector "
                "FROM memories m LEFT JOIN memory_vectors v ON v.namespace = m.namespace AND v.id = m.id "
                f"WHERE m.{PENDING} AND m.indexed IN ({wanted}) "
                "ORDER BY m.rowid LIMIT ?",
                (RECONCILE_BATCH + len(skip),),
            ).fetchall()
        rows = [r for r in rows if r[0] not in skip][:RECONCILE_BATCH]
        if not rows:
            return 0, set()
        return self._embed_and_apply(embedder, rows)

    def _embed_and_apply(self, embedder: Embedder, rows: Sequence[Any]) -> tuple[int, set[str]]:
        dim = self.index.embedder.dim
        batch = [_Pending(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        own = [
            vector_rows.decode(r[6], dim) if r[5] == Indexed.OWN and r[6] is not None else None for r in rows
        ]
        vectors = row_vectors(embedder, batch, self.mode, own)
        items = [IndexItem(p.id, p.namespace, fingerprint(p.content_hash, p.context)) for p in batch]
        applied = self.apply(items, vectors)
        return len(applied), {it.id for it in items} - applied

    def upgrade(self, embedder: Embedder) -> int:
        """Remake a batch of bulk-written vectors in the configured mode (when idle)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT m.id, m.namespace, m.content, m.content_hash, m.context, m.indexed, NULL "
                f"FROM memories m WHERE m.{PENDING} AND m.indexed = {Indexed.UPGRADE:d} ORDER BY m.rowid LIMIT ?",
                (UPGRADE_BATCH,),
            ).fetchall()
        if not rows:
            return 0
        return self._embed_and_apply(embedder, rows)[0]


@dataclass(frozen=True)
class _Pending:
    id: str
    namespace: str
    content: str
    content_hash: str
    context: str
