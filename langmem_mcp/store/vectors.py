"""The vector index: one Chroma collection, embedded under the data dir or on a Chroma server.

It is only an index. SQLite says what exists; anything here can be rebuilt from it. Calls
are synchronous (chromadb's API); the service runs them in a worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from langmem_mcp.store.embeddings import Embedder, chroma_embedding_function

log = logging.getLogger(__name__)

COLLECTION = "memories"
MODEL_KEY = "embedder"
DIM_KEY = "dim"


@dataclass(frozen=True)
class VectorHit:
    id: str
    similarity: float


class VectorIndex:
    def __init__(self, collection: Any, client: Any, embedder: Embedder, reset: bool) -> None:
        self._collection = collection
        self._client = client
        self.embedder = embedder
        #: True when the collection was (re)created and must be filled from SQLite.
        self.was_reset = reset
        self._lock = threading.Lock()

    @classmethod
    def open(cls, embedder: Embedder, path: Path | None = None, url: str | None = None) -> VectorIndex:
        """Open (or create) the collection; if another model built it, start it afresh."""
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if url:
            parsed = urlparse(url)
            client = chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
        else:
            assert path is not None
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        ef = chroma_embedding_function(embedder)
        wanted = {MODEL_KEY: embedder.model_id, DIM_KEY: embedder.dim}
        reset = False
        try:
            collection = client.get_collection(COLLECTION, embedding_function=ef)
            meta = collection.metadata or {}
            if meta.get(MODEL_KEY) != embedder.model_id or meta.get(DIM_KEY) != embedder.dim:
                log.warning(
                    "vector index was built by %s; re-embedding with %s",
                    meta.get(MODEL_KEY),
                    embedder.model_id,
                )
                client.delete_collection(COLLECTION)
                raise LookupError
        except Exception:  # missing (chromadb raises different types across versions) or reset above
            collection = client.create_collection(
                COLLECTION,
                embedding_function=ef,
                metadata=wanted,
                configuration={"hnsw": {"space": "cosine"}},
            )
            reset = True
        return cls(collection, client, embedder, reset)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, namespaces: Sequence[str]) -> None:
        if not ids:
            return
        with self._lock:
            self._collection.upsert(
                ids=list(ids),
                embeddings=vectors.astype(np.float32),
                metadatas=[{"ns": ns} for ns in namespaces],
            )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            with self._lock:
                self._collection.delete(ids=list(ids))

    def query(self, vector: np.ndarray, namespace: str, n: int) -> list[VectorHit]:
        res = self._collection.query(
            query_embeddings=vector.reshape(1, -1).astype(np.float32),
            n_results=n,
            where={"ns": namespace},
            include=["distances"],
        )
        ids = res["ids"][0] if res["ids"] else []
        dists = res["distances"][0] if res.get("distances") else []
        return [VectorHit(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=False)]

    def get_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those ids the collection holds."""
        if not ids:
            return {}
        res = self._collection.get(ids=list(ids), include=["embeddings"])
        return {
            i: np.asarray(v, dtype=np.float32) for i, v in zip(res["ids"], res["embeddings"], strict=True)
        }

    def all_ids(self) -> set[str]:
        out: set[str] = set()
        offset, page = 0, 5000
        while True:
            got = self._collection.get(include=[], limit=page, offset=offset)["ids"]
            out.update(got)
            if len(got) < page:
                return out
            offset += page
