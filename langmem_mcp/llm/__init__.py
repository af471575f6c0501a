"""Model access: the LLM interface, Anthropic and MCP-sampling adapters, prompt templates.

Nothing here imports ``anthropic`` until an Anthropic adapter is built.
"""

from langmem_mcp.llm.base import LLM, LLMError, LLMResponse, LLMUnavailable, ToolCall, ToolSpec, Usage
from langmem_mcp.llm.factory import make_llm

__all__ = ["LLM", "LLMError", "LLMResponse", "LLMUnavailable", "ToolCall", "ToolSpec", "Usage", "make_llm"]
