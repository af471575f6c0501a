"""A vector index that cannot take the server down: when Chroma fails, search goes exact and the
index is rebuilt from SQLite.

Chroma holds copies of vectors that SQLite keeps (`memory_vectors`), for large namespaces only.
So when it fails (files left corrupt by a crash or a bad disk, HNSW segments that no longer load,
a Chroma server that is down or answers errors) nothing is lost. `GuardedIndex` stands in for the
`VectorIndex` and stops trusting Chroma at its first failure: writes keep their vectors in SQLite,
large namespaces are searched exactly, and the owner's worker (`heal`) logs one warning and
rebuilds. An embedded index is moved aside (kept, named with the time) and made anew; a Chroma
server is asked again every RETRY_SECONDS. Then the collections are refilled from SQLite in the
background; each namespace is searched through Chroma again once it is refilled. A rebuild still
owed is recorded in SQLite (`meta`), so a restart finishes it.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from langmem_mcp.config import Settings

if TYPE_CHECKING:
    import numpy as np

    from langmem_mcp.index.chroma import VectorHit, VectorIndex
    from langmem_mcp.index.embeddings import Embedder
    from langmem_mcp.index.indexer import Indexer

log = logging.getLogger(__name__)

T = TypeVar("T")

#: `meta` key set while Chroma's collections must be refilled from SQLite before they are trusted.
REBUILD_KEY = "index_rebuild"
#: How often a Chroma that cannot be opened (a server down, a full disk) is tried again.
RETRY_SECONDS = 10.0
#: Failures that say nothing against the index's files: they are not moved aside for these.
TRANSIENT = (
    "disk is full",
    "no space left",
    "os error 28",
    "readonly",
    "read-only",
    "os error 30",
    "permission denied",
    "os error 13",
)


class IndexUnavailable(RuntimeError):
    """The approximate index cannot be read right now (it is being rebuilt from SQLite)."""


def transient(exc: BaseException) -> bool:
    """A failure of the disk or of permissions, not of the index's own files."""
    text = f"{type(exc).__name__}: {exc}".lower()
    return isinstance(exc, PermissionError) or any(t in text for t in TRANSIENT)


def quarantine(path: Path) -> Path:
    """Move a broken index directory aside, next to it, named with the time (kept, not deleted)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    path.rename(target)
    return target


def rebuild_owed(db_path: Path) -> bool:
    try:
        with _connect(db_path) as conn:
            return conn.execute("SELECT 1 FROM meta WHERE key = ?", (REBUILD_KEY,)).fetchone() is not None
    except sqlite3.Error:
        return False


def record_rebuild(db_path: Path, owed: bool) -> None:
    """Record (or clear) a rebuild still owed; best effort (the disk may be full or read-only)."""
    try:
        with _connect(db_path) as conn:
            if owed:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (REBUILD_KEY,))
            else:
                conn.execute("DELETE FROM meta WHERE key = ?", (REBUILD_KEY,))
    except sqlite3.Error as exc:
        log.debug("could not record the index rebuild in SQLite: %s", exc)


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


class GuardedIndex:
    """VectorIndex's methods, none of which fails because of Chroma.

    A failing call marks the index broken and answers as if there were no approximate index:
    queries return None (the caller scores exactly), writes store nothing in Chroma (SQLite has
    the vector). `heal`, from the owner's worker, replaces the index and refills it.
    """

    def __init__(self, settings: Settings, embedder: Embedder, opener: Callable[[], VectorIndex]) -> None:
        self.embedder = embedder
        self.where = settings.chroma_url or str(settings.chroma_dir)
        self._embedded = not settings.chroma_url
        self._path = settings.chroma_dir
        self._db_path = settings.db_path
        self._open = opener
        self._lock = threading.Lock()
        self.inner: VectorIndex | None = None
        #: Bumped at every replacement: failures of calls to a replaced index are not news.
        self._generation = 0
        #: Why Chroma cannot be used now (None: it can).
        self.failure: str | None = None
        self._failure_exc: BaseException | None = None
        #: The collections must be refilled from SQLite before they are searched again.
        self.rebuild = rebuild_owed(settings.db_path)
        #: The directory this process made anew (a failure of it is not kept).
        self._made_here = False
        self._next_try = 0.0
        self._warned = False
        #: What healing did, for doctor: where failed indexes were moved, what the last rebuild refilled.
        self.moved: list[Path] = []
        self.refilled: list[str] = []

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder) -> GuardedIndex:
        """Open the index; one that cannot be opened is replaced (embedded) or retried (server)."""
        from langmem_mcp.index.chroma import VectorIndex

        guard = cls(
            settings,
            embedder,
            lambda: VectorIndex.open(embedder, path=settings.chroma_dir, url=settings.chroma_url),
        )
        try:
            guard.inner = guard._open()
        except Exception as exc:  # noqa: BLE001 - any failure to open: served without it
            guard._broke(guard._generation, exc, "opening it")
            guard._reopen(guard._retire())
        return guard

    # -- failures ---------------------------------------------------------------------------
    def _usable(self) -> tuple[VectorIndex, int] | None:
        with self._lock:
            if self.inner is None or self.failure is not None:
                return None
            return self.inner, self._generation

    def _broke(self, generation: int, exc: BaseException, doing: str) -> None:
        with self._lock:
            if generation != self._generation or self.failure is not None:
                return
            self.failure = f"{type(exc).__name__} while {doing}: {str(exc)[:300]}"
            self._failure_exc = exc
            self.rebuild = True
        log.debug("vector index at %s failed", self.where, exc_info=exc)
        record_rebuild(self._db_path, True)

    def _guarded(self, doing: str, call: Callable[[VectorIndex], T], default: T) -> T:
        got = self._usable()
        if got is None:
            return default
        inner, generation = got
        try:
            return call(inner)
        except Exception as exc:  # noqa: BLE001 - Chroma's failure is not the caller's
            self._broke(generation, exc, doing)
            return default

    # -- healing ----------------------------------------------------------------------------
    def heal(self, indexer: Indexer) -> bool:
        """From the owner's worker: replace a failed index, then refill the collections of large
        namespaces from SQLite. Cheap when there is nothing to do. True once rebuilt."""
        if self.failure is None and not self.rebuild:
            return False
        if time.monotonic() < self._next_try:
            return False
        if self.failure is not None or self.inner is None:
            with indexer.lock:  # nothing writes to the failed index while it is closed and moved
                moved = self._retire()
            if not self._reopen(moved):  # (a server may take its timeout to answer: not under the lock)
                return False
        with self._lock:
            inner, generation = self.inner, self._generation
        assert inner is not None
        inner.forget_filled()  # each namespace is searched exactly until refilled
        started = time.monotonic()
        filled = indexer.grow(everywhere=True)
        with self._lock:
            if self.failure is not None or generation != self._generation:
                # Failed again while refilling: start over, after a pause (the disk may be bad).
                self._next_try = time.monotonic() + RETRY_SECONDS
                return False
            self.rebuild = False
            self.refilled = filled
        record_rebuild(self._db_path, False)
        log.info(
            "vector index at %s rebuilt from SQLite: %d large namespaces refilled in %.1f s",
            self.where,
            len(filled),
            time.monotonic() - started,
        )
        return True

    def _retire(self) -> Path | None:
        """Close the failed index and, if its files are at fault, move them aside (kept), or delete
        a directory this process made. Returns where the failed index was moved."""
        with self._lock:
            old, self.inner = self.inner, None
            self._generation += 1
            exc = self._failure_exc
        if old is not None:
            try:
                old.close()
            except Exception:  # noqa: BLE001 - it is broken already
                log.debug("closing the failed vector index", exc_info=True)
        if not self._embedded or not self._path.exists() or (exc is not None and transient(exc)):
            return None
        moved = None
        try:
            if self._made_here:  # holds nothing but copies this process made: not kept
                shutil.rmtree(self._path)
            else:
                moved = quarantine(self._path)
                self.moved.append(moved)
        except OSError as move_exc:
            log.debug("could not move the vector index aside: %s", move_exc)
            return None
        self._made_here = True  # what is at the path from now on, this process made
        return moved

    def _reopen(self, moved: Path | None) -> bool:
        """Open the index anew; on failure try again after RETRY_SECONDS."""
        why = self.failure or "a rebuild was asked for"
        try:
            inner = self._open()
        except Exception as open_exc:  # noqa: BLE001 - served without it; retried later
            self._next_try = time.monotonic() + RETRY_SECONDS
            self._warn(why, moved, retry=f"{type(open_exc).__name__}: {str(open_exc)[:200]}")
            return False
        with self._lock:
            self.inner = inner
            self.failure = None
            self._failure_exc = None
        self._warn(why, moved, retry=None)
        return True

    def _warn(self, why: str, moved: Path | None, retry: str | None) -> None:
        """One warning per failure: what failed, what was done, what happens next."""
        if self._warned and retry is not None:
            log.debug("vector index at %s still unavailable: %s", self.where, retry)
            return
        if self._warned:
            log.info("vector index at %s is back; refilling it from SQLite", self.where)
            self._warned = False
            return
        parts = [f"the vector index at {self.where} failed ({why})"]
        if retry is not None and retry.split(": ", 1)[-1] not in why:
            parts[0] += f" and cannot be opened again ({retry})"
        if moved is not None:
            parts.append(f"moved it aside to {moved} (kept, delete it when you like)")
        if retry is None:
            parts.append("rebuilding it from the vectors kept in SQLite in the background")
        else:
            parts.append(f"trying again every {RETRY_SECONDS:g} s, then refilling it from SQLite")
        parts.append("large namespaces are searched exactly meanwhile, and no memory is lost")
        log.warning("; ".join(parts))
        self._warned = retry is not None

    def request_rebuild(self, broken: bool) -> str:
        """Asked by `doctor --repair`: treat the index as failed (moved aside) or only stale."""
        with self._lock:
            self.rebuild = True
            if broken and self.failure is None and not self._made_here:  # not if made anew already
                self.failure = "doctor --repair found it unreadable"
            self._next_try = 0.0
        record_rebuild(self._db_path, True)
        return "moving the index aside and rebuilding it" if broken else "rebuilding it"

    # -- VectorIndex's methods ----------------------------------------------------------------
    @property
    def model_changed(self) -> bool:
        inner = self.inner
        return inner is not None and inner.model_changed

    @property
    def has_legacy(self) -> bool:
        return self._guarded("reading it", lambda i: i.has_legacy, False)

    def holds(self, namespace: str) -> bool:
        # While broken, every namespace counts as held: writes do not queue fills that `heal` does.
        got = self._usable()
        return True if got is None else got[0].holds(namespace)

    def filled(self) -> set[str]:
        got = self._usable()
        return set() if got is None else got[0].filled()

    def start_filling(self, namespace: str) -> None:
        self._guarded("creating a collection", lambda i: i.start_filling(namespace), None)

    def finish_filling(self, namespace: str) -> None:
        self._guarded("finishing a collection", lambda i: i.finish_filling(namespace), None)

    def upsert(self, namespace: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        self._guarded("writing vectors", lambda i: i.upsert(namespace, ids, vectors), None)

    def delete(self, namespace: str | None, ids: Sequence[str]) -> None:
        self._guarded("deleting vectors", lambda i: i.delete(namespace, ids), None)

    def query(self, vector: np.ndarray, namespace: str, n: int) -> list[VectorHit] | None:
        return self._guarded("searching", lambda i: i.query(vector, namespace, n), None)

    def all_ids(self) -> dict[str, set[str]]:
        got = self._usable()
        if got is None:
            raise IndexUnavailable(f"the vector index at {self.where} is unavailable: {self.failure}")
        inner, generation = got
        try:
            return inner.all_ids()
        except Exception as exc:
            self._broke(generation, exc, "reading every collection")
            raise

    def drop_all(self) -> None:
        self._guarded("dropping collections", lambda i: i.drop_all(), None)

    def legacy_vectors(self, ids: Sequence[str]) -> dict[str, Any]:
        return self._guarded("reading old vectors", lambda i: i.legacy_vectors(ids), {})

    def drop_legacy(self) -> None:
        self._guarded("dropping the old collection", lambda i: i.drop_legacy(), None)

    def close(self) -> None:
        with self._lock:
            inner, self.inner = self.inner, None
        if inner is not None:
            try:
                inner.close()
            except Exception:  # noqa: BLE001 - closing anyway
                log.debug("closing the vector index", exc_info=True)
