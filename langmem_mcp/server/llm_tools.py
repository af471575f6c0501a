"""MCP tools of the LLM procedures: extract_memories, summarize_thread, optimize_prompt."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from langmem_mcp.server.state import AppState


def register(mcp: MCPServer, state: AppState) -> None:
    """Filled in by the LLM-procedures work (issue 4)."""
