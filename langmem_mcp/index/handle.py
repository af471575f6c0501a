"""The vector index as the server holds it: loaded after the handshake, shared between processes.

chromadb and the embedding model cost seconds to load, so they load in a worker thread after the
MCP handshake (`start_warmup`) or on first use, whichever comes first; hosts give up on servers
that are slow to list their tools.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langmem_mcp.config import Settings
from langmem_mcp.index.indexer import INDEXED, UPGRADE, IndexItem, fingerprint, row_vectors
from langmem_mcp.index.owner import RemoteUnavailable

if TYPE_CHECKING:
    from langmem_mcp.index.shared import SharedIndex
    from langmem_mcp.store.memories import MemoryRow

log = logging.getLogger(__name__)


class ClosedWhileLoading(RuntimeError):
    """The handle was closed before its warm-up finished: the index was not kept open."""


#: How long closing waits for a warm-up still loading; past it, the loader closes what it opened.
CLOSE_WAIT_SECONDS = 1.0


class IndexHandle:
    """Loads the index once, hands it to whoever needs it, and indexes freshly committed rows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._index: SharedIndex | None = None
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
        from langmem_mcp.index.embeddings import shared_embedder
        from langmem_mcp.index.shared import SharedIndex

        def load() -> SharedIndex:
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

        self._index = await asyncio.to_thread(load)
        return self._index

    def _reconciled(self, n: int) -> None:
        self.reconciled = n

    async def index_rows(self, rows: Sequence[MemoryRow], bulk: bool = False) -> None:
        """Embed and index rows, then mark them indexed in SQLite.

        A row changed since it was read is left for the index worker to re-embed. A `bulk` write
        in "window" mode is indexed at once with the fast "neighbours" vectors (one encoding per
        text, so imports run near the encoder's speed) and upgraded to window vectors by the
        worker when idle.
        """
        if not rows:
            return
        index = await self.get()
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
        if self._index is not None:
            await asyncio.to_thread(self._index.close)


def _loaded_after_close(warmup: asyncio.Task[SharedIndex]) -> None:
    exc = None if warmup.cancelled() else warmup.exception()
    if exc is not None and not isinstance(exc, ClosedWhileLoading):
        log.error("index warm-up failed", exc_info=exc)
