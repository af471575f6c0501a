"""langmem-mcp: LangMem's long-term memory as a local-first MCP server."""

__version__ = "0.1.0"
