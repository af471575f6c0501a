"""Anthropic Messages API adapter (also any compatible server via ``base_url``: Ollama, LM
Studio, vLLM serve ``/v1/messages`` too).

``anthropic`` is imported only when an adapter is built: the import costs ~1.7 s and the
server must answer the MCP handshake before that. Retries on 408/409/429/5xx, connection
errors and timeouts (a local model still loading, or slow) are the SDK's own (exponential
backoff from 0.5 s up to 8 s, honouring ``retry-after``/``retry-after-ms``); because the SDK
obeys any ``retry-after``, however long, every call also runs under an overall deadline.
Errors name the server: Anthropic's, or the one at the base URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from langmem_mcp.llm.base import (
    BaseLLM,
    LLMError,
    LLMResponse,
    LLMUnavailable,
    Message,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
    UsageHook,
)

_MAX_BACKOFF = 8.0  # the SDK's MAX_RETRY_DELAY


class AnthropicLLM(BaseLLM):
    backend = "anthropic"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = "claude-sonnet-4-6",
        base_url: str | None = None,
        max_tokens: int = 4096,
        timeout: float = 120.0,
        max_retries: int = 4,
        total_timeout: float | None = None,
        on_usage: UsageHook | None = None,
    ) -> None:
        super().__init__(max_tokens=max_tokens, on_usage=on_usage)
        if not api_key:
            raise LLMUnavailable("the Anthropic backend needs an API key: set ANTHROPIC_API_KEY")
        import anthropic  # lazy: see module docstring

        self.model = model
        self.max_retries = max_retries
        self.timeout = timeout
        self.where = f"the model server at {base_url}" if base_url else "the Anthropic API"
        self.total_timeout = (
            total_timeout
            if total_timeout is not None
            else timeout * (max_retries + 1) + _MAX_BACKOFF * max_retries + 5.0
        )
        self._anthropic = anthropic
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def _complete(
        self,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        tool_choice: ToolChoice | None,
        max_tokens: int,
        procedure: str,
    ) -> LLMResponse:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": _merge_roles(messages),
        }
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools
            ]
            if tool_choice:
                kwargs["tool_choice"] = _tool_choice(tool_choice)
        errors = self._anthropic
        where = self.where
        try:
            async with asyncio.timeout(self.total_timeout):
                message = await self._client.messages.create(**kwargs)
        except TimeoutError as exc:
            raise LLMError(
                f"{where} did not finish within {self.total_timeout:.0f} s (including retries)"
            ) from exc
        except errors.AuthenticationError as exc:
            raise LLMError(f"{where} rejected the API key (401); check ANTHROPIC_API_KEY") from exc
        except errors.NotFoundError as exc:
            raise LLMError(
                f"{where} answered 404: it has no /v1/messages, or no model named {self.model!r} "
                f"(LANGMEM_MCP_ANTHROPIC_MODEL): {_short(exc.message)}"
            ) from exc
        except errors.APIStatusError as exc:
            raise LLMError(
                f"{where} failed with HTTP {exc.status_code} after {self.max_retries} retries: "
                f"{_short(exc.message)}"
            ) from exc
        except errors.APITimeoutError as exc:
            raise LLMError(
                f"{where} did not answer within {self.timeout:g} s, {self.max_retries + 1} time(s); "
                "a local model may need longer: raise LANGMEM_MCP_LLM_TIMEOUT"
            ) from exc
        except errors.APIConnectionError as exc:
            raise LLMError(f"cannot reach {where}: {_short(str(exc))}") from exc
        except (errors.APIError, ValueError) as exc:  # a 200 whose body is not a message
            raise LLMError(
                f"{where} answered with something that is not a Messages API reply: {_short(str(exc))}"
            ) from exc
        if not isinstance(getattr(message, "content", None), list):
            raise LLMError(f"{where} answered with something that is not a Messages API reply (no content)")
        return self._response(message, procedure)

    def _response(self, message: Any, procedure: str) -> LLMResponse:
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in message.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text or "")
            elif kind == "tool_use":
                calls.append(ToolCall(block.id, block.name, _tool_input(block.input)))
        usage = Usage(
            backend=self.backend,
            model=getattr(message, "model", None) or self.model,
            input_tokens=int(getattr(message.usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(message.usage, "output_tokens", 0) or 0),
            procedure=procedure,
        )
        return LLMResponse("".join(texts), calls, message.stop_reason, usage)


def _tool_input(value: Any) -> dict[str, Any]:
    """A tool call's input; some compatible servers send it as a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice in ("auto", "any", "none"):
        return {"type": choice}
    return {"type": "tool", "name": choice}


def _merge_roles(messages: Sequence[Message]) -> list[Message]:
    """The API wants alternating roles; join consecutive same-role turns into one."""
    out: list[Message] = []
    for m in messages:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        if out and out[-1]["role"] == m["role"]:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": m["role"], "content": blocks})
    return out


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
