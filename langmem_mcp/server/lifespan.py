"""What the server holds while it runs: the settings, the open runtime, and the services.

`ServerContext` is what the MCP server's lifespan yields (the SDK's typed lifespan context), so
every tool reaches the services through its `Context`; the HTTP server's REST routes hold the
same object. The runtime (SQLite) opens at start; the services, the vector index and the
background workers load once the host has its tool list (`ready`), since importing them would
slow the handshake that hosts wait on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from langmem_mcp.config import Settings
from langmem_mcp.server import startup_gc
from langmem_mcp.service.runtime import Runtime
from langmem_mcp.service.tokens import TokenService

if TYPE_CHECKING:  # services import on first use: a host waits for the tool list, not for them
    from mcp.server.mcpserver import Context

    from langmem_mcp.service.container import Services

log = logging.getLogger(__name__)

StartHook = Callable[["ServerContext"], Awaitable[None]]


class ServerContext:
    """The running server's state, shared by every session and every surface."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None
        self.tokens: TokenService | None = None
        #: Run after the runtime opens, before the first request (e.g. prompts offered by name).
        self.on_start: list[StartHook] = []
        #: Names of the optimized prompts offered as MCP prompts so far.
        self.offered_prompts: set[str] = set()
        self._services: Services | None = None
        self._ready_for: Runtime | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._fallback: asyncio.TimerHandle | None = None

    @property
    def rt(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the server is not running")
        return self.runtime

    async def services(self) -> Services:
        """The services, built on first use (or once the server is ready)."""
        rt = self.rt
        if self._services is None or self._services.runtime is not rt:
            from langmem_mcp.service.container import Services

            self._services = Services.build(rt, tokens=self.tokens)
        return self._services

    def ready(self) -> None:
        """Once the host has its tool list: resume garbage collection, load the index, build the
        services and start their background work. Once per runtime."""
        rt = self.runtime
        if rt is None or self._ready_for is rt:
            return
        self._ready_for = rt
        startup_gc.resume()
        rt.index.start_warmup()
        task = asyncio.get_running_loop().create_task(self._start_services())
        self._background.add(task)
        task.add_done_callback(self._started)

    async def _start_services(self) -> None:
        services = await self.services()
        await services.start()

    def _started(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("starting the services failed", exc_info=task.exception())

    async def open(self, warmup_after: float | None = None) -> None:
        """Open the runtime and run the start hooks; `ready` follows the host's tool list, or
        `warmup_after` seconds (None: only when asked)."""
        self.runtime = await Runtime.open(self.settings)
        self.tokens = TokenService(self.runtime.db)
        if warmup_after is not None:
            self._fallback = asyncio.get_running_loop().call_later(warmup_after, self.ready)
        for hook in self.on_start:
            await hook(self)

    async def close(self) -> None:
        """Stop the background work, then close the runtime (commit, flush)."""
        if self._fallback is not None:
            self._fallback.cancel()
            self._fallback = None
        self._ready_for = self.runtime  # nothing starts from here on
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._services is not None:
            try:
                await self._services.stop()
            except Exception:  # noqa: BLE001 - keep shutting down
                log.exception("stopping the services failed")
            self._services = None
        if self.runtime is not None:
            await self.runtime.close()
            self.runtime = None

    @asynccontextmanager
    async def running(self, warmup_after: float | None = None) -> AsyncIterator[ServerContext]:
        await self.open(warmup_after)
        try:
            yield self
        finally:
            await self.close()


def served(ctx: Context[ServerContext, Any]) -> ServerContext:
    """The server's context, from a request's `Context`."""
    return ctx.request_context.lifespan_context


async def services(ctx: Context[ServerContext, Any]) -> Services:
    return await served(ctx).services()
