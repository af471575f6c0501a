"""`langmem-mcp serve`: MCP over stdio (default), SSE or streamable HTTP."""

from __future__ import annotations

import argparse
import logging
import sys

from langmem_mcp.config import Settings

NAME = "serve"
HELP = "serve MCP (default: over stdio, as desktop hosts spawn it)"


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
    from langmem_mcp.server.app import build_server

    mcp = build_server(settings)
    if settings.transport == "stdio":
        mcp.run()
    else:
        transport = "streamable-http" if settings.transport == "http" else "sse"
        mcp.run(transport, host=settings.host, port=settings.port)  # type: ignore[call-overload]
    return 0
