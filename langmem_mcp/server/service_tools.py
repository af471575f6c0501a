"""MCP tools and resources of the LangMem service model (users, threads, memory functions)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from langmem_mcp.server.state import AppState


def register(mcp: MCPServer, state: AppState) -> None:
    """Filled in by the service-model work (issue 3)."""
