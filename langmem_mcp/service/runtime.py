"""The process's open resources: the database now, the model and vector index soon after.

SQLite opens at start (it is cheap). chromadb and the embedding model cost seconds, so they
load in a worker thread after the MCP handshake (`start_warmup`) or on first use, whichever
comes first; hosts give up on servers that are slow to list their tools.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langmem_mcp.config import Settings
from langmem_mcp.store.memories import MemoryRow, MemoryStore
from langmem_mcp.store.sqlite import SCHEMA_VERSION, Database

if TYPE_CHECKING:  # numpy and chromadb load with the index, after the handshake
    import numpy as np

    from langmem_mcp.store.vectors import VectorIndex

log = logging.getLogger(__name__)

RECONCILE_BATCH = 256


class Runtime:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.memories = MemoryStore(db)
        self.schema_version = SCHEMA_VERSION
        self._index: VectorIndex | None = None
        self._warmup: asyncio.Task[VectorIndex] | None = None
        self.reconciled = 0  # memories (re)indexed at the last reconcile, for stats and tests

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.db_path)
        return cls(settings, db)

    # -- the heavy parts -----------------------------------------------------------------
    def start_warmup(self) -> asyncio.Task[VectorIndex]:
        if self._warmup is None:
            self._warmup = asyncio.get_running_loop().create_task(self._load())
        return self._warmup

    async def index(self) -> VectorIndex:
        if self._index is not None:
            return self._index
        return await asyncio.shield(self.start_warmup())

    @property
    def index_ready(self) -> bool:
        return self._index is not None

    async def _load(self) -> VectorIndex:
        from langmem_mcp.store.embeddings import make_embedder
        from langmem_mcp.store.vectors import VectorIndex

        def load() -> VectorIndex:
            embedder = make_embedder(self.settings.embedder)
            if hasattr(embedder, "load"):
                embedder.load()
            return VectorIndex.open(embedder, path=self.settings.chroma_dir, url=self.settings.chroma_url)

        index = await asyncio.to_thread(load)
        await self.reconcile(index)
        self._index = index
        return index

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        index = await self.index()
        return await asyncio.to_thread(index.embedder.embed, list(texts))

    # -- keeping the index in step with SQLite ------------------------------------------
    async def index_rows(
        self, index: VectorIndex, rows: Sequence[MemoryRow], vectors: np.ndarray | None = None
    ) -> None:
        """Embed (unless given) and upsert rows, then mark them indexed in SQLite."""
        if not rows:
            return
        if vectors is None:
            vectors = await asyncio.to_thread(index.embedder.embed, [r.content for r in rows])
        await asyncio.to_thread(index.upsert, [r.id for r in rows], vectors, [r.namespace for r in rows])
        await self.memories.mark_indexed([r.id for r in rows], {r.id: r.content_hash for r in rows})

    async def reconcile(self, index: VectorIndex) -> int:
        """Finish index writes a crash interrupted: pending deletes, unindexed rows, strays."""
        store = self.memories
        if index.was_reset:
            await store.mark_all_unindexed()
        while ids := await store.tombstones(1000):
            await asyncio.to_thread(index.delete, ids)
            await store.clear_tombstones(ids)
        done = 0
        while rows := await store.unindexed(RECONCILE_BATCH):
            await self.index_rows(index, rows)
            done += len(rows)
        total = await self.db.scalar("SELECT COUNT(*) FROM memories")
        if await asyncio.to_thread(index.count) != total:
            stray = await asyncio.to_thread(index.all_ids) - await store.all_ids()
            log.warning("removing %d vectors with no memory behind them", len(stray))
            await asyncio.to_thread(index.delete, sorted(stray))
        if done:
            log.info("reconciled %d memories into the vector index", done)
        self.reconciled = done
        return done

    async def close(self) -> None:
        if self._warmup is not None and not self._warmup.done():
            try:
                await self._warmup
            except Exception:  # noqa: BLE001 - closing anyway
                log.exception("index warm-up failed")
        await self.db.close()
