"""Pick the model backend from settings and, for sampling, the connected client.

``auto`` prefers an API key (predictable, works for background formation with no client
attached) and falls back to the host's model through MCP sampling.
"""

from __future__ import annotations

from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.llm.base import ENABLE_HINT, LLM, LLMUnavailable, UsageHook
from langmem_mcp.llm.prompts import PromptLibrary
from langmem_mcp.llm.sampling import client_supports_sampling


def make_llm(
    settings: Settings,
    ctx: Any = None,
    *,
    on_usage: UsageHook | None = None,
    prompts: PromptLibrary | None = None,
) -> LLM:
    """An LLM for this request, or LLMUnavailable saying how to enable one."""
    choice = settings.llm
    if choice == "none":
        raise LLMUnavailable(f"LLM features are off (LANGMEM_MCP_LLM=none); to enable them, {ENABLE_HINT}")
    if choice == "anthropic" or (choice == "auto" and settings.anthropic_api_key):
        if not settings.anthropic_api_key:
            raise LLMUnavailable("LANGMEM_MCP_LLM=anthropic needs an API key: set ANTHROPIC_API_KEY")
        from langmem_mcp.llm.anthropic_llm import AnthropicLLM

        return AnthropicLLM(
            settings.anthropic_api_key,
            model=settings.anthropic_model,
            base_url=settings.anthropic_base_url,
            max_tokens=settings.llm_max_tokens,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
            on_usage=on_usage,
        )
    if choice not in ("auto", "sampling"):
        raise LLMUnavailable(f"unknown LANGMEM_MCP_LLM={choice!r}; use auto, anthropic, sampling or none")
    if ctx is not None and client_supports_sampling(ctx):
        from langmem_mcp.llm.sampling import SamplingLLM

        return SamplingLLM(
            ctx,
            max_tokens=settings.llm_max_tokens,
            timeout=settings.llm_timeout,
            prompts=prompts,
            on_usage=on_usage,
        )
    if choice == "sampling":
        where = (
            "this request has no MCP client"
            if ctx is None
            else "the connected MCP client does not support it"
        )
        raise LLMUnavailable(
            f"LANGMEM_MCP_LLM=sampling, but {where}; use a host with MCP sampling or {ENABLE_HINT}"
        )
    raise LLMUnavailable(f"no LLM is available: {ENABLE_HINT}")
