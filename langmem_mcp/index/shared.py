"""The vector index as one process sees it, when several processes serve one data dir.

Claude Desktop and an IDE may each spawn a server on the same data dir. Every process reads and
writes SQLite itself; only the one holding `owner.lock` runs the `Indexer` and opens Chroma
(`index/owner.py` has the lock and the RPC). `SharedIndex` hides which one this is: the owner
serves calls locally, a follower forwards them, and takes over when the owner is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from langmem_mcp.config import Settings
from langmem_mcp.index.indexer import Indexer
from langmem_mcp.index.owner import LOCK_FILE, OwnerClient, OwnerLock, OwnerServer, RemoteUnavailable

if TYPE_CHECKING:
    import numpy as np

    from langmem_mcp.index.chroma import VectorHit, VectorIndex
    from langmem_mcp.index.embeddings import Embedder
    from langmem_mcp.index.healing import GuardedIndex

log = logging.getLogger(__name__)

#: How often the owner looks for rows other processes committed, and followers try the lock.
POLL_SECONDS = 0.2
TAKEOVER_SECONDS = 1.0
#: A full pass (every unindexed row, no grace time) this often, whatever changed.
SWEEP_SECONDS = 10.0
#: How long a follower keeps retrying an owner that is changing hands.
RPC_PATIENCE_SECONDS = 5.0
#: After a failure, the worker waits this long before trying again.
ERROR_PAUSE_SECONDS = 2.0
#: The worker upgrades fast vectors once nothing was written for this long.
UPGRADE_IDLE_SECONDS = 2.0
#: While writes stream in, the worker's encoding (context vectors, neighbours' windows) waits
#: for this much quiet, so it does not take the cores the writes' own encodings need...
QUIET_SECONDS = 0.25
#: ...but never longer than this: a steady stream of writes still gets its contexts.
MAX_DEFER_SECONDS = 10.0
#: A stopping owner settles what needs no encoding for at most this long (within the exit bound).
FINAL_SETTLE_SECONDS = 0.5


class SharedIndex:
    """The vector index as this process sees it, with VectorIndex's methods.

    The owner serves its local Chroma collections; a follower forwards each call to the owner,
    and takes the lock over (and the collections with it) when the owner is gone.
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.indexer: Indexer | None = None
        self.guard: GuardedIndex | None = None
        #: The data dir cannot be written: no process can own the index; searches are exact.
        self.read_only = False
        self.reconciled = 0
        self._lock = OwnerLock(settings.data_dir / LOCK_FILE)
        self._server: OwnerServer | None = None
        self._client = OwnerClient(settings.data_dir)
        self._switch = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_reconcile: Callable[[int], None] = lambda n: None
        #: Set when this process committed rows for the worker: it starts at once, not at its poll.
        self._wake = threading.Event()
        self._last_write = 0.0
        #: Every namespace is checked for a collection it lacks once, by the worker, after a start.
        self._grow_everywhere = False
        #: Calls that other layers answer through the owner's socket (name → function of the
        #: call's arguments, run in the connection's thread): prompt recall for hooks, which must
        #: not load a model of their own.
        self.extra_ops: dict[str, Callable[..., Any]] = {}

    def wake(self) -> None:
        self._last_write = time.monotonic()
        self._wake.set()

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
            try:
                acquired = self._lock.try_acquire()
            except OSError as exc:  # the lock file cannot be made: a read-only data dir
                if not self.read_only:
                    log.warning("cannot take the index lock (%s): searching exactly from SQLite", exc)
                self.read_only = True
                return False
            self.read_only = False
            if not acquired:
                return False
            self._become_owner()
            return True

    def _become_owner(self) -> None:
        from langmem_mcp.index.healing import GuardedIndex

        # Never fails because of Chroma: a broken index is replaced and rebuilt (index/healing.py).
        index = self.guard = GuardedIndex.open(self.settings, self.embedder)
        indexer = Indexer(
            cast("VectorIndex", index),
            self.settings.db_path,
            self.settings.context_vectors,
            self.settings.exact_search_max,
        )
        indexer.prepare()
        self.indexer = indexer
        if not self.settings.chroma_url:
            self._server = OwnerServer(self.settings.data_dir, self._handle)
        self._client.close()
        # Collections a namespace outgrowing exact search still needs are filled by the worker
        # (_run), not here: filling 100k vectors takes ~30 s, and searches are exact meanwhile.
        self._grow_everywhere = not index.rebuild  # a rebuild refills every collection (heal)
        backlog = indexer.backlog()
        # Only the vectors search cannot do without; the rest is the worker's (_run), in the background.
        done = indexer.sync(self.embedder, missing_only=True)
        if backlog:
            log.info(
                "reconciled %d memories left from before this start (%d vectors made; contexts follow in the"
                " background)",
                backlog,
                done,
            )
        self.reconciled = done
        self.on_reconcile(done)

    def _run(self) -> None:
        last_try = last_sweep = last_change = time.monotonic()
        last_error = ""
        deferred_since: float | None = None  # work is waiting for a quiet moment since then
        while not self._stop.is_set():
            woken = self._wake.wait(POLL_SECONDS if deferred_since is None else QUIET_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                now = time.monotonic()
                indexer = self.indexer
                if indexer is None:
                    if now - last_try >= TAKEOVER_SECONDS:
                        last_try = now
                        self.try_takeover()
                    continue
                if self.guard is not None:
                    self.guard.heal(indexer)
                if self._grow_everywhere:
                    self._grow_everywhere = False
                    indexer.grow(everywhere=True)
                full = now - last_sweep >= SWEEP_SECONDS
                if full:
                    last_sweep = now
                if indexer.changed() or woken:
                    last_change = now
                    if not woken:  # another process committed: a write too
                        self._last_write = now
                    if deferred_since is None:
                        deferred_since = now
                if full or (deferred_since is not None and self._quiet(now, deferred_since)):
                    deferred_since = None
                    # A write arriving meanwhile stops it after its batch: the rest waits again.
                    indexer.sync(self.embedder, yield_to=self._written_since(time.monotonic()))
                elif deferred_since is None and now - last_change >= UPGRADE_IDLE_SECONDS:
                    indexer.upgrade(self.embedder)
                indexer.grow()
                last_error = ""
            except Exception as exc:  # noqa: BLE001 - keep the index worker alive
                if self._stop.is_set():
                    continue
                # The same failure again (a full or read-only disk) is logged once, and waited out.
                error = f"{type(exc).__name__}: {exc}"
                if error != last_error:
                    log.exception("index worker")
                    last_error = error
                self._stop.wait(ERROR_PAUSE_SECONDS)

    def _written_since(self, started: float) -> Callable[[], bool]:
        """Stop after the current batch: a write came (its encoding comes first) or the server is
        stopping (what is left is in SQLite, for the next start)."""
        return lambda: self._last_write > started or self._stop.is_set()

    def _quiet(self, now: float, deferred_since: float) -> bool:
        """No write for QUIET_SECONDS, or the work has waited MAX_DEFER_SECONDS already."""
        return now - self._last_write >= QUIET_SECONDS or now - deferred_since >= MAX_DEFER_SECONDS

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._switch:
            if self.indexer is not None:
                try:
                    self.indexer.settle(time.monotonic() + FINAL_SETTLE_SECONDS)
                except Exception:  # noqa: BLE001 - the next start settles it
                    log.warning(
                        "settling written memories at stop failed; the next start does it", exc_info=True
                    )
            if self._server is not None:
                self._server.close()
            if self.indexer is not None:
                self.indexer.close()
            if self.guard is not None:
                self.guard.close()
            self._client.close()
            self._lock.release()

    # -- calls, local or forwarded ---------------------------------------------------------
    def _handle(self, op: str, args: tuple[Any, ...]) -> Any:
        indexer = self.indexer
        assert indexer is not None
        if op == "delete":
            return indexer.delete(*args)
        if op in ("query", "all_ids"):
            return getattr(indexer.index, op)(*args)
        if op == "rebuild" and self.guard is not None:  # doctor --repair, while this server runs
            return self.guard.request_rebuild(*args)
        if op in self.extra_ops:
            return self.extra_ops[op](*args)
        raise ValueError(f"unknown index call {op!r}")

    def _call(self, op: str, *args: Any) -> Any:
        deadline = time.monotonic() + RPC_PATIENCE_SECONDS
        while True:
            if self.indexer is not None or self.try_takeover():
                return self._handle(op, args)
            if self.read_only:  # no owner can serve this data dir; nothing is written to it either
                raise RemoteUnavailable(f"{self.settings.data_dir} is read-only: there is no index owner")
            try:
                return self._client.call(op, *args)
            except RemoteUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL_SECONDS)

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
            hits: list[VectorHit] | None = self._call("query", vector, namespace, n)
            return hits
        except RemoteUnavailable:
            if not self.read_only:
                log.warning("index owner unreachable; scoring the namespace exactly")
            return None

    def all_ids(self) -> dict[str, set[str]]:
        ids: dict[str, set[str]] = self._call("all_ids")
        return ids

    def rebuild(self, broken: bool) -> str:
        """Rebuild the index from SQLite, moved aside first if `broken` (`doctor --repair`): by
        this process if it owns the index or can take it over, else by the owner, in the background.
        Returns what is being done."""
        return str(self._call("rebuild", broken))
