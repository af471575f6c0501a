"""The approximate index for large namespaces: a Chroma collection per namespace, embedded under
the data dir or on a Chroma server.

Every vector is kept in SQLite beside its memory (store/vector_rows.py), and a namespace of up
to `Settings.exact_search_max` memories is searched exactly from there. Only larger namespaces
get a collection here, because Chroma loads a collection's whole HNSW graph into memory to write
to it or query it, and keeps ≈3 MiB for each collection it has opened: one collection for every
memory made the first write at 100k memories cost ≈150 MiB, and a collection for every namespace
costs ≈3 MiB per namespace touched whatever its size.

It is only an index: SQLite says what exists and holds every vector, so a collection is filled
(or refilled) from there without the model. Calls are synchronous (chromadb's API); the service
runs them in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from langmem_mcp.index.embeddings import Embedder, chroma_embedding_function

log = logging.getLogger(__name__)

#: Collections of this index are named PREFIX + a hash of their namespace.
PREFIX = "ns-"
#: The single collection of data dirs from before schema 8 (every namespace in one).
LEGACY = "memories"
MODEL_KEY = "embedder"
DIM_KEY = "dim"
NS_KEY = "namespace"
#: False while a collection is being filled from SQLite; it is searched only once True.
FILLED_KEY = "filled"


def collection_name(namespace: str) -> str:
    return PREFIX + hashlib.sha256(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass(frozen=True)
class VectorHit:
    """One approximate-nearest-neighbour answer from a Chroma collection."""

    id: str
    similarity: float


def _forget_failed_system(path: str) -> None:
    """chromadb caches one system per directory and keeps one that failed to start: every later
    client for the directory would get it. Drop it, so the directory can be opened again (e.g. once
    a broken one was moved aside)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)


def _holds_collections(path: Path) -> bool:
    """Does the embedded store at `path` hold any collection of this index? Read from Chroma's
    own SQLite file without importing chromadb; anything unexpected (an unreadable file, another
    layout) says yes, so chromadb opens it and a broken store is found and healed as before."""
    if not path.exists():
        return False
    db = path / "chroma.sqlite3"
    if not db.exists():
        return any(path.iterdir())
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM collections")]
        finally:
            conn.close()
    except sqlite3.Error:
        return True
    return any(n == LEGACY or str(n).startswith(PREFIX) for n in names)


def _chroma_settings() -> Any:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _server_client(url: str) -> Any:
    import chromadb

    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or (443 if parsed.scheme == "https" else 8000),
        ssl=parsed.scheme == "https",
        settings=_chroma_settings(),
    )


def _embedded_client(path: Path) -> Any:
    import chromadb

    settings = _chroma_settings()
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception:
        _forget_failed_system(str(path))
        raise


def import_beside(path: Path, url: str | None) -> None:
    """Import chromadb in a daemon thread when this start will open it (a Chroma server, or an
    embedded store holding collections): its ≈0.5 s of import then overlaps the model's load
    instead of following it. A failed import is left for the real one to report."""
    if not url and not _holds_collections(path):
        return
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # as _chroma_settings, before any import

    def load() -> None:
        try:
            import chromadb  # noqa: F401 - loaded for later use
        except Exception:  # noqa: BLE001, S110 - the import that needs it raises it again
            pass

    threading.Thread(target=load, name="import-chromadb", daemon=True).start()


class VectorIndex:
    """The Chroma collections of the large namespaces: the HNSW graphs searched when exact scoring would be too slow."""

    def __init__(
        self,
        client: Any,
        embedder: Embedder,
        found: Sequence[Any],
        model_changed: bool,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        #: None until the first collection is made when the store held none (`connect` makes it).
        self._client = client
        self._connect = connect
        self.embedder = embedder
        self._ef = chroma_embedding_function(embedder) if client is not None else None
        #: Collections another model built were dropped: every vector must be made again.
        self.model_changed = model_changed
        self._legacy = next((c for c in found if c.name == LEGACY), None)
        self._by_ns: dict[str, Any] = {}
        self._filled: set[str] = set()
        for c in found:
            meta = c.metadata or {}
            if c.name.startswith(PREFIX) and isinstance(meta.get(NS_KEY), str):
                self._by_ns[meta[NS_KEY]] = c
                if meta.get(FILLED_KEY):
                    self._filled.add(meta[NS_KEY])
        self._lock = threading.Lock()

    @classmethod
    def open(cls, embedder: Embedder, path: Path | None = None, url: str | None = None) -> VectorIndex:
        """Open the collections there are; if another model built them, drop them all. An
        embedded store that holds no collection is opened when the first namespace outgrows
        exact search: until then chromadb is not even imported (≈0.6 s of CPU and ≈80 MiB at
        every start of a server whose namespaces are all small)."""
        if url:
            return cls._with_client(embedder, _server_client(url))
        assert path is not None
        if not _holds_collections(path):
            return cls(None, embedder, [], model_changed=False, connect=lambda: _embedded_client(path))
        return cls._with_client(embedder, _embedded_client(path))

    @classmethod
    def _with_client(cls, embedder: Embedder, client: Any) -> VectorIndex:
        try:
            found = [c for c in client.list_collections() if c.name == LEGACY or c.name.startswith(PREFIX)]
        except Exception:
            getattr(client, "close", lambda: None)()  # release its files (see close())
            raise
        stale = [
            c
            for c in found
            if (c.metadata or {}).get(MODEL_KEY) != embedder.model_id
            or (c.metadata or {}).get(DIM_KEY) != embedder.dim
        ]
        if stale:
            log.warning(
                "vector index was built by %s; dropping it to re-embed with %s",
                (stale[0].metadata or {}).get(MODEL_KEY),
                embedder.model_id,
            )
            for c in found:
                client.delete_collection(c.name)
            found = []
        return cls(client, embedder, found, model_changed=bool(stale))

    def _connected(self) -> tuple[Any, Any]:
        """The client and embedding function, made now if the store was left unopened."""
        if self._client is None:
            assert self._connect is not None
            self._client = self._connect()
            self._ef = chroma_embedding_function(self.embedder)
        return self._client, self._ef

    # -- which namespaces are here -----------------------------------------------------------
    def holds(self, namespace: str) -> bool:
        """Has a collection (filled or being filled): writes to the namespace go to it too."""
        return namespace in self._by_ns

    def filled(self) -> set[str]:
        return set(self._filled)

    def _metadata(self, namespace: str, filled: bool) -> dict[str, Any]:
        return {
            MODEL_KEY: self.embedder.model_id,
            DIM_KEY: self.embedder.dim,
            NS_KEY: namespace,
            FILLED_KEY: filled,
        }

    def start_filling(self, namespace: str) -> None:
        """Give the namespace a collection (unless it has one), not searched until `finish_filling`."""
        with self._lock:
            if namespace in self._by_ns:
                return
            client, ef = self._connected()
            self._by_ns[namespace] = client.get_or_create_collection(
                collection_name(namespace),
                embedding_function=ef,
                metadata=self._metadata(namespace, False),
                configuration={"hnsw": {"space": "cosine"}},
            )

    def forget_filled(self) -> None:
        """Search no collection until it is filled again (`index/healing.py` refills them)."""
        with self._lock:
            self._filled.clear()

    def finish_filling(self, namespace: str) -> None:
        with self._lock:
            self._by_ns[namespace].modify(metadata=self._metadata(namespace, True))
            self._filled.add(namespace)

    # -- vectors ----------------------------------------------------------------------------
    def upsert(self, namespace: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Into the namespace's collection, if it has one (otherwise SQLite alone holds them)."""
        collection = self._by_ns.get(namespace)
        if collection is None or not ids:
            return
        with self._lock:
            collection.upsert(ids=list(ids), embeddings=np.asarray(vectors, dtype=np.float32))

    def delete(self, namespace: str | None, ids: Sequence[str]) -> None:
        """From the namespace's collection; from every collection when the namespace is unknown
        (deletes recorded before schema 8)."""
        if not ids:
            return
        targets = list(self._by_ns.values()) if namespace is None else [self._by_ns.get(namespace)]
        with self._lock:
            for collection in targets:
                if collection is not None:
                    collection.delete(ids=list(ids))

    def query(self, vector: np.ndarray, namespace: str, n: int) -> list[VectorHit] | None:
        """Approximate nearest neighbours; None when the namespace has no filled collection."""
        if namespace not in self._filled:
            return None
        res = self._by_ns[namespace].query(
            query_embeddings=vector.reshape(1, -1).astype(np.float32),
            n_results=n,
            include=["distances"],
        )
        ids = res["ids"][0] if res["ids"] else []
        dists = res["distances"][0] if res.get("distances") else []
        return [VectorHit(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=False)]

    def all_ids(self) -> dict[str, set[str]]:
        """Every id, by namespace (reads every collection: for checks, not for serving)."""
        out: dict[str, set[str]] = {}
        for namespace, collection in self._by_ns.items():
            ids: set[str] = set()
            offset, page = 0, 5000
            while True:
                got = collection.get(include=[], limit=page, offset=offset)["ids"]
                ids.update(got)
                if len(got) < page:
                    break
                offset += page
            out[namespace] = ids
        return out

    def close(self) -> None:
        """Release the client (an embedded store's files), e.g. before its directory is moved."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def drop_all(self) -> None:
        if self._client is None:  # never opened: holds nothing
            return
        with self._lock:
            for collection in [*self._by_ns.values(), *([self._legacy] if self._legacy else [])]:
                self._client.delete_collection(collection.name)
            self._by_ns.clear()
            self._filled.clear()
            self._legacy = None

    # -- the single collection of older data dirs -------------------------------------------
    @property
    def has_legacy(self) -> bool:
        return self._legacy is not None

    def legacy_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors the old single collection holds for those ids."""
        if not ids or self._legacy is None:
            return {}
        res = self._legacy.get(ids=list(ids), include=["embeddings"])
        return {
            i: np.asarray(v, dtype=np.float32) for i, v in zip(res["ids"], res["embeddings"], strict=True)
        }

    def drop_legacy(self) -> None:
        with self._lock:
            if self._legacy is not None:
                self._client.delete_collection(self._legacy.name)
                self._legacy = None
