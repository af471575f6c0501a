"""The vector index as the server holds it: loaded after the handshake, shared between processes.

chromadb and the embedding model cost seconds to load, so they load in a worker thread after the
MCP handshake (`start_warmup`) or on first use, whichever comes first; hosts give up on servers
that are slow to list their tools.

Writes go through here for the one thing they wait on, the vector of their own text (`embed`,
batched with the writes arriving at the same time); the rest of indexing is the index worker's
(`notify` wakes it when this process wrote).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langmem_mcp.config import Settings

if TYPE_CHECKING:
    import numpy as np

    from langmem_mcp.index.batching import EmbedBatcher
    from langmem_mcp.index.shared import SharedIndex

log = logging.getLogger(__name__)


class ClosedWhileLoading(RuntimeError):
    """The handle was closed before its warm-up finished: the index was not kept open."""


#: How long closing waits for a warm-up still loading; past it, the loader closes what it opened.
CLOSE_WAIT_SECONDS = 1.0


class IndexHandle:
    """Loads the index once, hands it to whoever needs it, and embeds what writes commit with."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._index: SharedIndex | None = None
        self._batcher: EmbedBatcher | None = None
        self._warmup: asyncio.Task[SharedIndex] | None = None
        self.reconciled = 0  # memories (re)indexed at the last reconcile, for stats and tests
        self._closing = False

    def start_warmup(self) -> asyncio.Task[SharedIndex]:
        if self._warmup is None:
            self._warmup = asyncio.get_running_loop().create_task(self._load())
        return self._warmup

    async def get(self) -> SharedIndex:
        if self._index is not None:
            return self._index
        return await asyncio.shield(self.start_warmup())

    @property
    def ready(self) -> bool:
        return self._index is not None

    @property
    def owner(self) -> bool:
        return self._index is not None and self._index.is_owner

    async def _load(self) -> SharedIndex:
        from langmem_mcp.index.batching import EmbedBatcher
        from langmem_mcp.index.chroma import import_beside
        from langmem_mcp.index.embeddings import shared_embedder
        from langmem_mcp.index.shared import SharedIndex

        def load() -> SharedIndex:
            import_beside(self.settings.chroma_dir, self.settings.chroma_url)
            embedder = shared_embedder(self.settings.embedder)
            load_model = getattr(embedder, "load", None)
            if load_model is not None:
                load_model()
            if self._closing:  # closed while the model loaded: take no ownership
                raise ClosedWhileLoading("the index was closed while it loaded")
            shared = SharedIndex(self.settings, embedder)
            shared.on_reconcile = self._reconciled
            shared.start()
            if self._closing:  # close() stopped waiting for us: release the lock ourselves
                shared.close()
                raise ClosedWhileLoading("the index was closed while it loaded")
            return shared

        index = await asyncio.to_thread(load)
        self._batcher = EmbedBatcher(index.embedder, lanes=os.cpu_count() or 1)
        self._index = index
        return index

    def _reconciled(self, n: int) -> None:
        self.reconciled = n

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of these texts (each memory's own text), batched with concurrent writes."""
        await self.get()
        assert self._batcher is not None
        return await self._batcher.embed(texts)

    def notify(self) -> None:
        """This process committed rows the index worker has to finish: wake it now."""
        if self._index is not None:
            self._index.wake()

    async def close(self) -> None:
        """Close the index; a warm-up still loading gets CLOSE_WAIT_SECONDS, then is left to close
        what it opens (loading the model and reconciling can take seconds; a host stopping the
        server waits on this)."""
        self._closing = True
        warmup = self._warmup
        if warmup is not None and not warmup.done():
            await asyncio.wait({warmup}, timeout=CLOSE_WAIT_SECONDS)
            if not warmup.done():
                log.info("the index is still loading; it closes itself once loaded")
                warmup.add_done_callback(_loaded_after_close)
                return
        if warmup is not None:
            _loaded_after_close(warmup)
        if self._batcher is not None:
            await self._batcher.close()
        if self._index is not None:
            await asyncio.to_thread(self._index.close)


def _loaded_after_close(warmup: asyncio.Task[SharedIndex]) -> None:
    exc = None if warmup.cancelled() else warmup.exception()
    if exc is not None and not isinstance(exc, ClosedWhileLoading):
        log.error("index warm-up failed", exc_info=exc)
