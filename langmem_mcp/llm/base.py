"""The LLM interface the engine codes against, independent of who runs the model.

Messages use the Anthropic Messages shape (the richest of the two backends): a list of
``{"role": "user"|"assistant", "content": str | [block, ...]}`` where a block is
``{"type": "text", "text"}``, ``{"type": "tool_use", "id", "name", "input"}`` or
``{"type": "tool_result", "tool_use_id", "content": str, "is_error": bool}``. The MCP
sampling adapter translates from it. Nothing here imports a provider SDK, so importing
the engine stays cheap.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from langmem_mcp.errors import LangmemError, Unavailable

logger = logging.getLogger(__name__)

Message = dict[str, Any]
# "auto" (model decides), "any" (must call some tool), "none", or the name of one tool to call.
ToolChoice = str

ENABLE_HINT = (
    "set ANTHROPIC_API_KEY (or LANGMEM_MCP_ANTHROPIC_API_KEY), or ANTHROPIC_BASE_URL to a local "
    "Anthropic-compatible server (Ollama, LM Studio, vLLM), or connect from a host that supports "
    "MCP sampling, or choose a backend with LANGMEM_MCP_LLM=anthropic|sampling"
)


class LLMUnavailable(Unavailable):
    """No model can be used here; the message says how to enable one."""


class LLMError(LangmemError):
    """A model call failed after retries (HTTP error, timeout, refused sampling request)."""

    status_code = 502


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: a name, what it is for, and a JSON schema of its input."""

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolCall(NamedTuple):
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens spent by one call, kept so the service can show and persist spending."""

    backend: str
    model: str
    input_tokens: int
    output_tokens: int
    procedure: str = ""
    estimated: bool = False  # sampling hosts report no token counts: estimated from text length
    at: float = field(default_factory=time.time)


@dataclass
class LLMResponse:
    text: str
    tool_calls: list[ToolCall]
    stop_reason: str | None
    usage: Usage
    replayed: bool = False  # answered from recorded MCP request state: not spent again, not recorded again


UsageHook = Callable[[Usage], Awaitable[None] | None]


@runtime_checkable
class LLM(Protocol):
    """What the engine needs from a model."""

    backend: str

    async def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        tool_choice: ToolChoice | None = None,
        max_tokens: int | None = None,
        procedure: str = "",
    ) -> LLMResponse: ...


class BaseLLM:
    """Shared bookkeeping: the usage log and the ``on_usage`` hook."""

    backend = "base"

    def __init__(self, *, max_tokens: int = 4096, on_usage: UsageHook | None = None) -> None:
        self.max_tokens = max_tokens
        self.on_usage = on_usage
        self.usage_log: list[Usage] = []

    async def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        tool_choice: ToolChoice | None = None,
        max_tokens: int | None = None,
        procedure: str = "",
    ) -> LLMResponse:
        if tool_choice is not None and tool_choice not in ("auto", "any", "none"):
            if not tools or tool_choice not in {t.name for t in tools}:
                raise ValueError(f"tool_choice {tool_choice!r} names no given tool")
        response = await self._complete(
            system, list(messages), list(tools or []), tool_choice, max_tokens or self.max_tokens, procedure
        )
        if not response.replayed:
            await self._record(response.usage)
        return response

    async def _complete(
        self,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        tool_choice: ToolChoice | None,
        max_tokens: int,
        procedure: str,
    ) -> LLMResponse:
        raise NotImplementedError

    async def _record(self, usage: Usage) -> None:
        self.usage_log.append(usage)
        if self.on_usage is None:
            return
        try:
            result = self.on_usage(usage)
            if inspect.isawaitable(result):
                await result
        except Exception:  # the hook is bookkeeping; it must never fail the call
            logger.exception("on_usage hook failed")

    @property
    def total_tokens(self) -> tuple[int, int]:
        return (
            sum(u.input_tokens for u in self.usage_log),
            sum(u.output_tokens for u in self.usage_log),
        )


# ---- message helpers shared by the adapters and the engine ----


def text_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content as a list of blocks (a bare string becomes one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def assistant_message(response: LLMResponse) -> Message:
    """The assistant turn to append to the history after ``response``."""
    blocks: list[dict[str, Any]] = []
    if response.text:
        blocks.append({"type": "text", "text": response.text})
    for call in response.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})
    return {"role": "assistant", "content": blocks or [{"type": "text", "text": "(no reply)"}]}


def tool_results_message(results: Sequence[tuple[str, str, bool]]) -> Message:
    """A user turn answering tool calls: ``[(tool_use_id, content, is_error), ...]``."""
    return {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": tid, "content": text, "is_error": bool(err)}
            for tid, text, err in results
        ],
    }


def tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)
