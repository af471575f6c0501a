"""Writes that arrive together are embedded together.

Every create or update embeds its own text before it commits. One text at a time, concurrent
writers would queue behind one another on the encoder; here each request joins the ones waiting
while the encoder is busy, and they run as one batch on the next free lane (a worker thread each;
inference is single-threaded per call, so `lanes` is how many cores the writes may take).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from langmem_mcp.engine.context import Embedder

log = logging.getLogger(__name__)

#: At most this many texts go in one batch; a request larger than this runs on its own.
MAX_BATCH = 64


class EmbedBatcher:
    """`await embed(texts)` from any task of one event loop; batches are formed while busy."""

    def __init__(self, embedder: Embedder, lanes: int = 2) -> None:
        self.embedder = embedder
        self.lanes = max(1, lanes)
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future[np.ndarray]]] | None = None
        self._workers: list[asyncio.Task[None]] = []

    def _start(self) -> asyncio.Queue[tuple[list[str], asyncio.Future[np.ndarray]]]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            self._workers = [
                loop.create_task(self._lane(), name=f"langmem-embed-{k}") for k in range(self.lanes)
            ]
        return self._queue

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.embedder.embed([])
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._start().put((list(texts), future))
        return await future

    async def _lane(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            size = len(batch[0][0])
            while size < MAX_BATCH and not queue.empty():
                item = queue.get_nowait()
                batch.append(item)
                size += len(item[0])
            texts = [t for request, _ in batch for t in request]
            try:
                vectors = await asyncio.to_thread(self.embedder.embed, texts)
            except Exception as exc:  # noqa: BLE001 - each waiting write gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for request, future in batch:
                if not future.done():
                    future.set_result(vectors[start : start + len(request)])
                start += len(request)

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        self._queue = None
