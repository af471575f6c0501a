"""The process's open resources: the database now, the model and vector index soon after.

SQLite opens at start (it is cheap). chromadb and the embedding model cost seconds, so they
load in a worker thread after the MCP handshake (`start_warmup`) or on first use, whichever
comes first; hosts give up on servers that are slow to list their tools.

Several processes may serve one data dir (Claude Desktop and an IDE each spawn a server).
Every process reads and writes SQLite itself, and searches most namespaces exactly from the
vectors kept there; only the one holding `owner.lock` writes those vectors and opens Chroma
(the approximate index of large namespaces; see `store/owner.py`), and `SharedIndex` hides which
one this is.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langmem_mcp.config import Settings
from langmem_mcp.engine.context import VectorMode, embed_memories
from langmem_mcp.store import vector_rows
from langmem_mcp.store.memories import MemoryRow, MemoryStore
from langmem_mcp.store.owner import LOCK_FILE, OwnerClient, OwnerLock, OwnerServer, RemoteUnavailable
from langmem_mcp.store.sqlite import SCHEMA_VERSION, Database, immediate_transaction

if TYPE_CHECKING:  # numpy and chromadb load with the index, after the handshake
    import numpy as np

    from langmem_mcp.store.embeddings import Embedder
    from langmem_mcp.store.vectors import VectorHit, VectorIndex

log = logging.getLogger(__name__)

RECONCILE_BATCH = 256
#: How often the owner looks for rows other processes committed, and followers try the lock.
POLL_SECONDS = 0.2
TAKEOVER_SECONDS = 1.0
#: A full pass (every unindexed row, no grace time) this often, whatever changed.
SWEEP_SECONDS = 10.0
#: A row left unindexed this long was dropped by its writer (crashed, owner unreachable).
GRACE_SECONDS = 2.0
#: How long a follower keeps retrying an owner that is changing hands.
RPC_PATIENCE_SECONDS = 5.0
#: Vectors copied from SQLite into a namespace's new Chroma collection per step (under the lock).
FILL_BATCH = 1000
#: `meta` key naming the model the vectors kept in SQLite were made by.
INDEX_MODEL_KEY = "index_model"


def fingerprint(content_hash: str, context: str = "") -> str:
    """What a vector was computed from; a row whose fingerprint changed needs a new one."""
    return hashlib.sha256(f"{content_hash}\x00{context}".encode("utf-8", "surrogatepass")).hexdigest()


def row_vectors(embedder: Embedder, rows: Sequence[Any], mode: VectorMode = "window") -> np.ndarray:
    """The vector each row is indexed under: the memory mixed with its context (engine.context)."""
    return embed_memories(embedder, rows, mode)


#: `memories.indexed`: no vector yet; indexed as configured; indexed with the fast
#: ("neighbours") vector of a bulk write, to be upgraded to the configured mode when idle.
MISSING, INDEXED, UPGRADE = 0, 1, 2
#: The worker upgrades fast vectors once nothing was written for this long, a batch at a time.
UPGRADE_IDLE_SECONDS = 2.0
UPGRADE_BATCH = 64


@dataclass(frozen=True)
class IndexItem:
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
        self, index: VectorIndex, db_path: Path, mode: VectorMode = "window", exact_max: int = 5000
    ) -> None:
        self.index = index
        self.mode = mode
        self.exact_max = exact_max
        #: Namespaces written since `grow` last checked whether they outgrew exact search.
        self._grown: set[str] = set()
        #: Ids this process is indexing right now (SharedIndex.hold): the worker leaves them be.
        self.busy: Callable[[], set[str]] = set
        self.conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA busy_timeout = 30000")
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(memories)")}
        self._context_col = "context" if "context" in cols else "''"
        self.lock = threading.Lock()
        self._data_version = -1
        self._seen_unindexed: dict[str, float] = {}

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

    def apply(self, items: Sequence[IndexItem], vectors: np.ndarray) -> int:
        """Store the vectors of rows still as they were embedded (in Chroma, and beside the rows
        for exact search); mark those rows indexed."""
        with self.lock:
            current = self._current([it.id for it in items])
            keep = [k for k, it in enumerate(items) if current.get(it.id) == it.fingerprint]
            if not keep:
                return 0
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
            return len(fresh)

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

    @property
    def waiting(self) -> bool:
        """Rows seen unindexed on an earlier pass, to take once their grace time is over."""
        return bool(self._seen_unindexed)

    def changed(self) -> bool:
        """Did another connection commit since the last call? (cheap: PRAGMA data_version)"""
        with self.lock:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    def sync(self, embedder: Embedder, full: bool = False) -> int:
        """Finish what SQLite says the index lacks: tombstones and unindexed rows. (Stray vectors,
        with no memory behind them, are dropped when a search meets them: counting the collection
        would load its whole HNSW index into memory.)

        Outside a full pass, a row is taken only once it has been unindexed for GRACE_SECONDS,
        so rows whose writer is indexing them right now are not embedded twice.
        """
        while True:
            with self.lock:
                dead = self.conn.execute("SELECT namespace, id FROM index_tombstones LIMIT 1000").fetchall()
                if not dead:
                    break
                by_ns: dict[str | None, list[str]] = {}
                for ns, i in dead:
                    by_ns.setdefault(ns, []).append(i)
                for ns, ids in by_ns.items():
                    self.index.delete(ns, ids)
                self.conn.executemany("DELETE FROM index_tombstones WHERE id = ?", [(i,) for _, i in dead])
        done = 0
        skip: set[str] = set()
        while True:
            with self.lock:
                rows = self.conn.execute(
                    f"SELECT id, namespace, content, content_hash, {self._context_col} FROM memories "
                    "WHERE indexed = 0 ORDER BY rowid LIMIT ?",
                    (RECONCILE_BATCH + len(skip),),
                ).fetchall()
            busy = self.busy()
            rows = [r for r in rows if r[0] not in skip and r[0] not in busy]
            if not full:
                # Leave rows alone while their writer is probably indexing them itself.
                now = time.monotonic()
                seen = {r[0]: self._seen_unindexed.get(r[0], now) for r in rows}
                self._seen_unindexed = seen
                rows = [r for r in rows if now - seen[r[0]] >= GRACE_SECONDS]
            if not rows:
                break
            batch = [_Pending(*r) for r in rows[:RECONCILE_BATCH]]
            vectors = row_vectors(embedder, batch, self.mode)
            items = [IndexItem(p.id, p.namespace, fingerprint(p.content_hash, p.context)) for p in batch]
            applied = self.apply(items, vectors)
            done += applied
            if applied < len(batch):  # changed while embedding: the next pass takes them
                skip |= {p.id for p in batch}
            if not full:
                break
        return done

    def upgrade(self, embedder: Embedder) -> int:
        """Re-embed a batch of bulk-written rows in the configured mode; returns how many."""
        with self.lock:
            rows = self.conn.execute(
                f"SELECT id, namespace, content, content_hash, {self._context_col} FROM memories "
                "WHERE indexed = ? ORDER BY rowid LIMIT ?",
                (UPGRADE, UPGRADE_BATCH),
            ).fetchall()
        if not rows:
            return 0
        batch = [_Pending(*r) for r in rows]
        vectors = row_vectors(embedder, batch, self.mode)
        items = [IndexItem(p.id, p.namespace, fingerprint(p.content_hash, p.context)) for p in batch]
        return self.apply(items, vectors)


@dataclass(frozen=True)
class _Pending:
    id: str
    namespace: str
    content: str
    content_hash: str
    context: str


class SharedIndex:
    """The vector index as this process sees it, with VectorIndex's methods.

    The owner serves its local Chroma collections; a follower forwards each call to the owner,
    and takes the lock over (and the collections with it) when the owner is gone.
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.indexer: Indexer | None = None
        self.reconciled = 0
        self._lock = OwnerLock(settings.data_dir / LOCK_FILE)
        self._server: OwnerServer | None = None
        self._client = OwnerClient(settings.data_dir)
        self._switch = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_reconcile: Callable[[int], None] = lambda n: None
        self._held: dict[str, int] = {}
        self._held_lock = threading.Lock()
        self._last_busy = time.monotonic()

    def hold(self, ids: Sequence[str], delta: int) -> None:
        """Mark ids as being embedded by this process (+1) or done (-1), so the background worker
        does not embed the same rows again while a slow batch is in flight."""
        with self._held_lock:
            self._last_busy = time.monotonic()
            for i in ids:
                n = self._held.get(i, 0) + delta
                if n > 0:
                    self._held[i] = n
                else:
                    self._held.pop(i, None)

    def held(self) -> set[str]:
        with self._held_lock:
            return set(self._held)

    @property
    def is_owner(self) -> bool:
        return self.indexer is not None

    # -- ownership -------------------------------------------------------------------------
    def start(self) -> None:
        """Become the owner if no one is; then keep the index in step in the background."""
        if self.settings.chroma_url:  # a Chroma server takes concurrent writers itself
            self._become_owner()
        else:
            self.try_takeover()
        self._thread = threading.Thread(target=self._run, name="langmem-index", daemon=True)
        self._thread.start()

    def try_takeover(self) -> bool:
        with self._switch:
            if self.indexer is not None:
                return True
            if not self._lock.try_acquire():
                return False
            self._become_owner()
            return True

    def _become_owner(self) -> None:
        from langmem_mcp.store.vectors import VectorIndex

        index = VectorIndex.open(self.embedder, path=self.settings.chroma_dir, url=self.settings.chroma_url)
        indexer = Indexer(
            index, self.settings.db_path, self.settings.context_vectors, self.settings.exact_search_max
        )
        indexer.busy = self.held
        indexer.prepare()
        self.indexer = indexer
        if not self.settings.chroma_url:
            self._server = OwnerServer(self.settings.data_dir, self._handle)
        self._client.close()
        indexer.grow(everywhere=True)
        done = indexer.sync(self.embedder, full=True)
        if done:
            log.info("reconciled %d memories into the vector index", done)
        self.reconciled = done
        self.on_reconcile(done)

    def _run(self) -> None:
        last_try = last_sweep = last_change = time.monotonic()
        while not self._stop.wait(POLL_SECONDS):
            try:
                now = time.monotonic()
                indexer = self.indexer
                if indexer is None:
                    if now - last_try >= TAKEOVER_SECONDS:
                        last_try = now
                        self.try_takeover()
                    continue
                full = now - last_sweep >= SWEEP_SECONDS
                if full:
                    last_sweep = now
                if indexer.changed() or full or indexer.waiting:
                    last_change = now
                    indexer.sync(self.embedder, full=full)
                elif now - max(last_change, self._last_busy) >= UPGRADE_IDLE_SECONDS and not self.held():
                    indexer.upgrade(self.embedder)
                indexer.grow()
            except Exception:  # noqa: BLE001 - keep the index worker alive
                if not self._stop.is_set():
                    log.exception("index worker")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._switch:
            if self._server is not None:
                self._server.close()
            if self.indexer is not None:
                self.indexer.close()
            self._client.close()
            self._lock.release()

    # -- calls, local or forwarded ---------------------------------------------------------
    def _handle(self, op: str, args: tuple[Any, ...]) -> Any:
        indexer = self.indexer
        assert indexer is not None
        if op == "apply":
            return indexer.apply(*args)
        if op == "delete":
            return indexer.delete(*args)
        if op in ("query", "all_ids"):
            return getattr(indexer.index, op)(*args)
        raise ValueError(f"unknown index call {op!r}")

    def _call(self, op: str, *args: Any) -> Any:
        deadline = time.monotonic() + RPC_PATIENCE_SECONDS
        while True:
            if self.indexer is not None or self.try_takeover():
                return self._handle(op, args)
            try:
                return self._client.call(op, *args)
            except RemoteUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL_SECONDS)

    def apply(self, items: Sequence[IndexItem], vectors: np.ndarray) -> int:
        return self._call("apply", list(items), vectors)

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        try:
            self._call("delete", namespace, list(ids))
        except RemoteUnavailable:  # the row's tombstone stays; the owner's next pass drops the vector
            log.warning("index owner unreachable; %d vectors will be removed by its next pass", len(ids))

    def query(self, vector: np.ndarray, namespace: str, n: int) -> list[VectorHit] | None:
        """None when there is no approximate index of the namespace to ask (not filled yet, or
        its owner unreachable): the caller scores the namespace's vectors exactly instead."""
        try:
            return self._call("query", vector, namespace, n)
        except RemoteUnavailable:
            log.warning("index owner unreachable; scoring the namespace exactly")
            return None

    def all_ids(self) -> dict[str, set[str]]:
        return self._call("all_ids")


class Runtime:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.memories = MemoryStore(db)
        self.vectors = vector_rows.VectorRows(db)
        self.schema_version = SCHEMA_VERSION
        self._index: SharedIndex | None = None
        self._warmup: asyncio.Task[SharedIndex] | None = None
        self.reconciled = 0  # memories (re)indexed at the last reconcile, for stats and tests

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.db_path)
        return cls(settings, db)

    # -- the heavy parts -----------------------------------------------------------------
    def start_warmup(self) -> asyncio.Task[SharedIndex]:
        if self._warmup is None:
            self._warmup = asyncio.get_running_loop().create_task(self._load())
        return self._warmup

    async def index(self) -> SharedIndex:
        if self._index is not None:
            return self._index
        return await asyncio.shield(self.start_warmup())

    @property
    def index_ready(self) -> bool:
        return self._index is not None

    @property
    def index_owner(self) -> bool:
        return self._index is not None and self._index.is_owner

    async def _load(self) -> SharedIndex:
        from langmem_mcp.store.embeddings import make_embedder

        def load() -> SharedIndex:
            embedder = make_embedder(self.settings.embedder)
            if hasattr(embedder, "load"):
                embedder.load()
            shared = SharedIndex(self.settings, embedder)
            shared.on_reconcile = self._reconciled
            shared.start()
            return shared

        self._index = await asyncio.to_thread(load)
        return self._index

    def _reconciled(self, n: int) -> None:
        self.reconciled = n

    # -- keeping the index in step with SQLite ------------------------------------------
    async def index_rows(
        self,
        index: SharedIndex,
        rows: Sequence[MemoryRow],
        bulk: bool = False,
    ) -> None:
        """Embed and index rows, then mark them indexed in SQLite.

        A row changed since it was read is left for the index worker to re-embed. A `bulk` write in "window" mode
        is indexed at once with the fast "neighbours" vectors (one encoding per text, so imports
        run near the encoder's speed) and upgraded to window vectors by the worker when idle.
        """
        if not rows:
            return
        ids = [r.id for r in rows]
        index.hold(ids, 1)
        try:
            mode, state = self.settings.context_vectors, INDEXED
            if bulk and mode == "window":
                mode, state = "neighbours", UPGRADE
            vectors = await asyncio.to_thread(row_vectors, index.embedder, rows, mode)
            items = [
                IndexItem(r.id, r.namespace, fingerprint(r.content_hash, r.context), state) for r in rows
            ]
            await asyncio.to_thread(index.apply, items, vectors)
        except RemoteUnavailable:  # committed already; the owner (or whoever takes over) indexes it
            log.warning("index owner unreachable; %d memories will be indexed by it later", len(rows))
        finally:
            index.hold(ids, -1)

    async def close(self) -> None:
        if self._warmup is not None and not self._warmup.done():
            try:
                await self._warmup
            except Exception:  # noqa: BLE001 - closing anyway
                log.exception("index warm-up failed")
        if self._index is not None:
            await asyncio.to_thread(self._index.close)
        await self.db.close()
