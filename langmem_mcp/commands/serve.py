"""`langmem-mcp serve`: MCP over stdio (default), SSE or streamable HTTP (with the REST API)."""

from __future__ import annotations

import argparse
import logging
import sys

from langmem_mcp.config import Settings

NAME = "serve"
HELP = "serve MCP (default: over stdio, as desktop hosts spawn it; sse/http also serve the REST API)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transport", choices=["stdio", "sse", "http"], help="stdio (default), sse or http")
    p.add_argument("--host", help="address for sse/http (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port for sse/http (default 8765)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.transport == "stdio":
        from langmem_mcp.server import startup_gc

        startup_gc.pause()  # resumed once the host has its tool list (ServerContext.ready)
        from langmem_mcp.server.stdio_guard import StopOnSignals, run_stdio

        # Before the server is built, so a signal while it loads already stops the process.
        stop = StopOnSignals()
        stop.install()
        import anyio

        from langmem_mcp.server.app import build_server

        anyio.run(run_stdio, build_server(settings), stop)
        return 0
    from langmem_mcp.server.http import RefuseToStart, serve

    try:
        serve(settings)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT after its clean shutdown
        pass
    except RefuseToStart as exc:
        print(f"langmem-mcp: {exc}", file=sys.stderr)
        return 2
    return 0
