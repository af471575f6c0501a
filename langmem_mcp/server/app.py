"""Builds the MCP server: lifespan (open the data dir), warm-up after the handshake, features."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer

from langmem_mcp import __version__
from langmem_mcp.config import Settings
from langmem_mcp.server.state import AppState
from langmem_mcp.service.runtime import Runtime

log = logging.getLogger(__name__)

#: The MCP feature groups, by the names LANGMEM_MCP_TOOLS takes.
FEATURES = {
    "memory": "langmem_mcp.server.memory_tools",
    "service": "langmem_mcp.server.service_tools",
    "llm": "langmem_mcp.server.llm_tools",
}

INSTRUCTIONS = """\
Long-term memory for this assistant. Search it (search_memory) when a conversation starts and
whenever past context could matter; save durable facts, preferences and decisions (manage_memory)
as soon as you learn them, and correct memories that turn out wrong."""

#: Load the model and index this long after start even if no request came, so the first search is fast.
WARMUP_FALLBACK_SECONDS = 2.0
#: Let the response that triggered warm-up reach the host first: the import thread holds the GIL.
WARMUP_DELAY_SECONDS = 0.2


class WarmupAfterHandshake:
    """Starts the background work (`AppState.ready`: chromadb, the model, workers) once the host
    has its tool list.

    Importing them holds the GIL for about a second; doing it before `tools/list` is answered
    would slow the host's handshake, which some hosts time out on.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.scheduled: object = None  # the runtime it was scheduled for

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        rt = self.state.runtime
        if (
            ctx.method not in ("initialize", "notifications/initialized")
            and rt is not None
            and self.scheduled is not rt
        ):
            self.scheduled = rt  # once per runtime, not a timer per request
            asyncio.get_running_loop().call_later(WARMUP_DELAY_SECONDS, self.state.ready)
        return result


@asynccontextmanager
async def running(state: AppState) -> AsyncIterator[AppState]:
    """Open the runtime, run features' start hooks (and their ready hooks once the host has its
    tool list, or after WARMUP_FALLBACK_SECONDS); on exit stop them and close (commit, flush)."""
    state.runtime = await Runtime.open(state.settings)
    fallback = asyncio.get_running_loop().call_later(WARMUP_FALLBACK_SECONDS, state.ready)
    try:
        for hook in state.on_start:
            await hook(state)
        yield state
    finally:
        fallback.cancel()
        await state.cancel_ready()
        for hook in reversed(state.on_stop):
            try:
                await hook(state)
            except Exception:  # noqa: BLE001 - keep shutting down
                log.exception("shutdown hook failed")
        await state.rt.close()
        state.runtime = None


@contextmanager
def _sdk_logging_setup_skipped() -> Iterator[None]:
    """MCPServer() calls logging.basicConfig with a rich handler it imports first (≈15–20 ms at
    every start). Once logging is configured (`serve` does it first) that call changes nothing,
    so it is skipped, import and all."""
    from mcp.server.mcpserver import server as sdk_server

    if not logging.getLogger().handlers:
        yield
        return
    configure = sdk_server.configure_logging
    sdk_server.configure_logging = lambda *_, **__: None
    try:
        yield
    finally:
        sdk_server.configure_logging = configure


def build_server(
    settings: Settings,
    state: AppState | None = None,
    *,
    own_lifespan: bool = True,
    middleware: Sequence[Any] = (),
) -> MCPServer[Any]:
    """`own_lifespan=False`: the caller runs `running(state)` (the HTTP server, which serves
    MCP and REST from one runtime); `middleware` is added after the built-in ones."""
    state = state or AppState(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[AppState]:
        if not own_lifespan:
            yield state
            return
        async with running(state):
            yield state

    with _sdk_logging_setup_skipped():
        mcp: MCPServer[Any] = MCPServer(
            name="langmem-mcp",
            title="LangMem memory",
            version=__version__,
            instructions=INSTRUCTIONS,
            lifespan=lifespan,
            log_level=settings.log_level.upper(),  # type: ignore[arg-type]
            middleware=[WarmupAfterHandshake(state), *middleware],
        )
    # Each feature registers its own tools, resources and prompts; only the chosen ones are imported.
    for group in settings.tool_groups:
        importlib.import_module(FEATURES[group]).register(mcp, state)
    return mcp
