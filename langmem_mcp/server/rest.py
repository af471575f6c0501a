"""The LangMem REST API (what the `langmem==0.0.3` client calls), as Starlette routes."""

from __future__ import annotations

from starlette.routing import BaseRoute

from langmem_mcp.server.state import AppState


def rest_routes(state: AppState) -> list[BaseRoute]:
    """Filled in by the service-model work (issue 3); mounted by the HTTP server (issue 5)."""
    return []
