"""The HTTP server: MCP over streamable HTTP (`/mcp`) and SSE (`/sse`, `/messages/`), the
LangMem REST API and the memory browser (`/ui/`), in one Starlette app with one runtime (one
lifespan) behind all of them.

uvicorn serves it; SIGINT and SIGTERM stop accepting, let requests finish, then the lifespan
closes the runtime (pending writes committed, the index flushed, the SQLite WAL checkpointed).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from langmem_mcp.config import Settings
from langmem_mcp.server.app import build_server, running
from langmem_mcp.server.auth import CREATE_HINT, AccessControl, PrincipalFromRequest, is_loopback
from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.server.rest import rest_routes

log = logging.getLogger(__name__)

#: How long open streams (SSE, streamable-HTTP GET) may hold up shutdown before they are cut.
GRACEFUL_SHUTDOWN_SECONDS = 3


class RefuseToStart(Exception):
    """Raised before binding when serving would be unsafe."""


def build_app(settings: Settings, served: ServerContext | None = None) -> Starlette:
    served = served or ServerContext(settings)
    mcp = build_server(settings, served, own_lifespan=False, middleware=[PrincipalFromRequest()])
    # The SDK's apps give the routes (and DNS-rebinding protection when bound to loopback);
    # their lifespans are not run when mounted, so ours runs the session manager.
    http_app = mcp.streamable_http_app(host=settings.host)
    sse_app = mcp.sse_app(host=settings.host)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with running(served), mcp.session_manager.run():
            log.info("serving on http://%s:%d (MCP at /mcp and /sse)", settings.host, settings.port)
            yield {}
        log.info("stopped; data committed and closed")

    from langmem_mcp.server.ui import PREFIX, ui_mount

    routes: list[BaseRoute] = [*http_app.routes, *sse_app.routes, *rest_routes(served), ui_mount(served)]
    middleware = [Middleware(AccessControl, served=served, own_access=(PREFIX,))]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


async def active_tokens(settings: Settings) -> int:
    from langmem_mcp.store.sqlite import Database
    from langmem_mcp.store.tokens import TokenStore

    db = await Database.open(settings.db_path)
    try:
        return await TokenStore(db).count_active()
    finally:
        await db.close()


def check_safe_to_bind(settings: Settings) -> None:
    """Serving beyond loopback with no tokens would give anyone on the network every memory."""
    import asyncio

    if is_loopback(settings.host):
        return
    if asyncio.run(active_tokens(settings)) == 0:
        raise RefuseToStart(
            f"refusing to serve on {settings.host}: no access tokens are configured, so anyone who can reach "
            f"this address could read and change every memory. Either serve on 127.0.0.1, or {CREATE_HINT} "
            f"and give it to the clients."
        )


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings, on_listening: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM. uvicorn handles both (stop accepting, finish requests, run
    the lifespan's exit), then re-raises the signal; both then end as KeyboardInterrupt.
    `on_listening` gets the server's base URL once it accepts connections (port 0: a free one)."""
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if on_listening is not None and not self.should_exit:
                port = self.servers[0].sockets[0].getsockname()[1]
                on_listening(f"http://{url_host(settings.host)}:{port}")

    check_safe_to_bind(settings)
    signal.signal(signal.SIGTERM, _stop)
    config = uvicorn.Config(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    Server(config).run()


def url_host(host: str) -> str:
    """A host as it is written in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
