"""The `langmem-mcp` command: serve (the default) and the maintenance commands.

Kept free of heavy imports: `langmem-mcp` with no arguments is what hosts spawn, and the
time to the first answered `tools/list` is what they wait on.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from langmem_mcp import __version__
from langmem_mcp.config import Settings, load_settings

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", help="where memories live (env LANGMEM_MCP_DATA_DIR; default: per-user data dir)"
    )
    p.add_argument(
        "--namespace", help="default namespace, segments joined by '/' (env LANGMEM_MCP_NAMESPACE)"
    )
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langmem-mcp",
        description="Local-first long-term memory for AI assistants, over the Model Context Protocol.",
    )
    parser.add_argument("--version", action="version", version=f"langmem-mcp {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve MCP (default: over stdio, as desktop hosts spawn it)")
    _common(serve)
    serve.add_argument("--transport", choices=["stdio", "sse", "http"], help="stdio (default), sse or http")
    serve.add_argument("--host", help="address for sse/http (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port for sse/http (default 8765)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        namespace=getattr(args, "namespace", None),
        log_level=getattr(args, "log_level", None),
        transport=getattr(args, "transport", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def serve(settings: Settings) -> int:
    from pathlib import Path

    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from langmem_mcp.server.app import build_server

    settings = settings.with_overrides(data_dir=Path(settings.data_dir).expanduser().resolve())
    mcp = build_server(settings)
    if settings.transport == "stdio":
        mcp.run()
    else:
        transport = "streamable-http" if settings.transport == "http" else "sse"
        mcp.run(transport, host=settings.host, port=settings.port)  # type: ignore[call-overload]
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    command = args.command or "serve"
    if command == "serve":
        return serve(settings)
    parser.error(f"unknown command {command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
