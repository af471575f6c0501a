"""What services return, as pydantic models (so MCP tools get output schemas and REST the same
JSON): `memories` for agent memory, `langmem` for the LangMem service model (users, threads,
memory functions, formation), `procedures` for the LLM procedures' outcomes."""
