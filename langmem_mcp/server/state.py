"""What the MCP surface holds between requests, and the mapping of domain errors to tool errors."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError
from langmem_mcp.server import startup_gc

if TYPE_CHECKING:  # services import on first use: a host waits for the tool list, not for them
    from langmem_mcp.service.memories import MemoryService
    from langmem_mcp.service.runtime import Runtime

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
Hook = Callable[["AppState"], Awaitable[None]]


@dataclass
class AppState:
    """Filled by the server's lifespan; tools reach services through it."""

    settings: Settings
    runtime: Runtime | None = None
    services: dict[str, object] = field(default_factory=dict)
    #: Run by the server's lifespan after the runtime opens (in order) and before it closes
    #: (in reverse): what must be in place before the first request (e.g. offered prompts).
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    #: Run once the host has its tool list (or a little after start without one): background
    #: workers whose imports would hold the GIL while the host waits for the handshake.
    on_ready: list[Hook] = field(default_factory=list)
    _ready_for: object = field(default=None, repr=False, compare=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set, repr=False, compare=False)

    @property
    def rt(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the server is not running")
        return self.runtime

    @property
    def memories(self) -> MemoryService:
        from langmem_mcp.service.memories import MemoryService

        return MemoryService(self.rt)

    def ready(self) -> None:
        """Start loading the index and run the `on_ready` hooks, once per runtime."""
        rt = self.runtime
        if rt is None or self._ready_for is rt:
            return
        self._ready_for = rt
        startup_gc.resume()
        rt.start_warmup()
        loop = asyncio.get_running_loop()
        for hook in self.on_ready:
            task = loop.create_task(hook(self))
            self._background.add(task)
            task.add_done_callback(self._ready_done)

    def _ready_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a ready hook failed", exc_info=task.exception())

    async def cancel_ready(self) -> None:
        """At shutdown, before `on_stop`: cancel the `on_ready` hooks still running; none start later."""
        self._ready_for = self.runtime
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Domain errors reach the model as tool errors with their message; nothing else leaks."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except LangmemError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper
