"""The MCP features, one module per group that LANGMEM_MCP_TOOLS names: `memory` (agent memory),
`service` (the LangMem service model), `llm` (the LLM procedures). Each exposes `FEATURE`."""
