"""What the MCP surface holds between requests, and the mapping of domain errors to tool errors."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError
from langmem_mcp.service.memories import MemoryService
from langmem_mcp.service.runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class AppState:
    """Filled by the server's lifespan; tools reach services through it."""

    settings: Settings
    runtime: Runtime | None = None
    services: dict[str, object] = field(default_factory=dict)
    #: Run by the server's lifespan after the runtime opens (in order) and before it closes
    #: (in reverse): background workers, prompt hot-reload, and the like register here.
    on_start: list[Callable[[AppState], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[AppState], Awaitable[None]]] = field(default_factory=list)

    @property
    def rt(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the server is not running")
        return self.runtime

    @property
    def memories(self) -> MemoryService:
        return MemoryService(self.rt)


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Domain errors reach the model as tool errors with their message; nothing else leaks."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except LangmemError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper
