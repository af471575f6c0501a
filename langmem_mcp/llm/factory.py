"""Pick the model backend from settings and, for sampling, the connected client.

``auto`` prefers a configured endpoint: an API key, or a base URL of a server other than
Anthropic's (Ollama, LM Studio, vLLM), which needs no key. It is predictable and works for
background formation with no client attached. Otherwise it falls back to the host's model
through MCP sampling.
"""

from __future__ import annotations

from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.llm.base import ENABLE_HINT, LLM, LLMUnavailable, UsageHook
from langmem_mcp.llm.prompts import PromptLibrary
from langmem_mcp.llm.sampling import client_supports_sampling

#: Sent as the key to a local server, which needs none (the SDK will not send a request without one).
LOCAL_KEY = "not-needed"


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
        raise LLMUnavailable(
            f"the server calls no model (LANGMEM_MCP_LLM=none); to give it one, {ENABLE_HINT}"
        )
    if choice == "anthropic" or (choice == "auto" and settings.llm_endpoint_configured):
        if not settings.llm_endpoint_configured:
            raise LLMUnavailable(
                "LANGMEM_MCP_LLM=anthropic needs an API key: set ANTHROPIC_API_KEY (or, for a local "
                "server such as Ollama, set ANTHROPIC_BASE_URL to it)"
            )
        from langmem_mcp.llm.anthropic_llm import AnthropicLLM

        return AnthropicLLM(
            settings.anthropic_api_key or LOCAL_KEY,
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
