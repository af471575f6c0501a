"""Builds the MCP server: its lifespan (the server's context), warm-up after the handshake, and the
features chosen by LANGMEM_MCP_TOOLS."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer

from langmem_mcp import __version__
from langmem_mcp.config import Settings
from langmem_mcp.server.lifespan import ServerContext

log = logging.getLogger(__name__)

#: The MCP feature groups, by the names LANGMEM_MCP_TOOLS takes.
FEATURES = {
    "memory": "langmem_mcp.server.features.memory",
    "service": "langmem_mcp.server.features.service",
    "llm": "langmem_mcp.server.features.llm",
}
#: The MCP prompts (recall, remember, session_summary) work through the memory tools: they come
#: with the memory group.
PROMPTS = "langmem_mcp.server.features.prompts"

INSTRUCTIONS = """\
Long-term memory for this assistant. Search it (search_memory) when a conversation starts and
whenever past context could matter; save durable facts, preferences and decisions (manage_memory)
as soon as you learn them, and correct memories that turn out wrong."""

#: Load the model and index this long after start even if no request came, so the first search is fast.
WARMUP_FALLBACK_SECONDS = 2.0
#: Let the response that triggered warm-up reach the host first: the import thread holds the GIL.
WARMUP_DELAY_SECONDS = 0.2


class WarmupAfterHandshake:
    """Starts the background work (`ServerContext.ready`: chromadb, the model, workers) once the
    host has its tool list.

    Importing them holds the GIL for about a second; doing it before `tools/list` is answered
    would slow the host's handshake, which some hosts time out on.
    """

    def __init__(self, served: ServerContext) -> None:
        self.served = served
        self.scheduled: object = None  # the runtime it was scheduled for

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        rt = self.served.runtime
        if (
            ctx.method not in ("initialize", "notifications/initialized")
            and rt is not None
            and self.scheduled is not rt
        ):
            self.scheduled = rt  # once per runtime, not a timer per request
            asyncio.get_running_loop().call_later(WARMUP_DELAY_SECONDS, self.served.ready)
        return result


def running(served: ServerContext) -> AbstractAsyncContextManager[ServerContext]:
    """Open the runtime, run the features' start hooks; `ready` follows the host's tool list, or
    WARMUP_FALLBACK_SECONDS. On exit stop the background work and close (commit, flush)."""
    return served.running(WARMUP_FALLBACK_SECONDS)


@contextmanager
def _sdk_logging_setup_skipped() -> Iterator[None]:
    """MCPServer() calls logging.basicConfig with a rich handler it imports first (≈15–20 ms at
    every start). Once logging is configured (`serve` does it first) that call changes nothing,
    so it is skipped, import and all."""
    from mcp.server.mcpserver import server as sdk_server

    if not logging.getLogger().handlers:
        yield
        return
    configure = sdk_server.configure_logging  # type: ignore[attr-defined]
    sdk_server.configure_logging = lambda *_, **__: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        sdk_server.configure_logging = configure  # type: ignore[attr-defined]


def build_server(
    settings: Settings,
    served: ServerContext | None = None,
    *,
    own_lifespan: bool = True,
    middleware: Sequence[Any] = (),
) -> MCPServer[ServerContext]:
    """`own_lifespan=False`: the caller runs `running(served)` (the HTTP server, which serves
    MCP and REST from one runtime); `middleware` is added after the built-in ones."""
    served = served or ServerContext(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerContext]) -> AsyncIterator[ServerContext]:
        if not own_lifespan:
            yield served
            return
        async with running(served):
            yield served

    with _sdk_logging_setup_skipped():
        mcp: MCPServer[ServerContext] = MCPServer(
            name="langmem-mcp",
            title="LangMem memory",
            version=__version__,
            instructions=INSTRUCTIONS,
            lifespan=lifespan,
            log_level=settings.log_level.upper(),  # type: ignore[arg-type]
            middleware=[WarmupAfterHandshake(served), *middleware],
        )
    # Each feature registers its own tools, resources and prompts; only the chosen ones are imported.
    for group in settings.tool_groups:
        importlib.import_module(FEATURES[group]).FEATURE.register(mcp, served)
    if "memory" in settings.tool_groups:
        importlib.import_module(PROMPTS).FEATURE.register(mcp, served)
    return mcp
