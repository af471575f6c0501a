"""MCP sampling adapter: run the engine on the host's own model, no API key needed.

How several sampling calls fit in one ``tools/call`` (mcp 2.3):

* up to protocol 2025-11-25 the server may send ``sampling/createMessage`` requests to the
  client while the tool runs, so each ``complete()`` is one request on the back channel;
* from 2026-07-28 servers may not send requests mid-call. A tool returns an
  ``InputRequiredResult`` (questions + opaque ``request_state``) and the client calls the
  tool again with the answers. ``Resolve(Sample(...))`` covers a fixed number of calls known
  before the body runs; our procedures decide their next call from the previous reply, so
  this adapter records and replays: the whole procedure re-runs each round, calls already
  answered are served from ``request_state`` (sealed by MCPServer's AES-GCM boundary), and
  the first unanswered call suspends the round with :class:`SamplingSuspended`. Procedures
  must therefore be deterministic given the model's replies. Each sequential call costs one
  round; the SDK's client gives up after ``input_required_max_rounds`` (10 by default).

Without the client's ``sampling.tools`` capability, tools are described in the system
prompt (template ``sampling_tools_json``) and the JSON reply is parsed into tool calls.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

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
    tool_result_text,
)
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library

logger = logging.getLogger(__name__)
T = TypeVar("T")

INPUT_REQUIRED_VERSION = "2026-07-28"
_STATE_VERSION = 1
_KEY_PREFIX = "langmem-llm-"

TOOLS_JSON = declare("sampling_tools_json", "tools", "requirement")
_REQUIREMENT = {
    "auto": "Call tools when they help; otherwise answer in plain text.",
    "any": "You must call at least one tool.",
    "none": "Do not call any tool; answer in plain text.",
}


class SamplingSuspended(BaseException):  # noqa: N818 - control flow, like CancelledError
    """Ends this round of a 2026-07-28 tool call: the client must answer a sampling request.

    A BaseException so that engine code catching ``Exception`` cannot swallow it; a tool
    turns it into its return value with :func:`run_sampled`.
    """

    def __init__(self, result: Any) -> None:
        super().__init__("sampling input required")
        self.result = result


def client_supports_sampling(ctx: Any) -> bool:
    caps = _capabilities(ctx)
    return caps is not None and caps.sampling is not None


def client_supports_sampling_tools(ctx: Any) -> bool:
    caps = _capabilities(ctx)
    return caps is not None and caps.sampling is not None and caps.sampling.tools is not None


def _capabilities(ctx: Any) -> Any:
    try:
        return ctx.client_capabilities
    except (ValueError, AttributeError):  # a Context outside a request
        return None


def uses_input_required(ctx: Any) -> bool:
    from mcp_types.version import is_version_at_least

    version = getattr(ctx, "protocol_version", None)
    return version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION)


async def run_sampled(ctx: Any, procedure: Callable[[], Awaitable[T]]) -> Any:
    """Run ``procedure``; on 2026-07-28 return the ``InputRequiredResult`` it suspends on.

    Tools using a :class:`SamplingLLM` return this value, annotated ``-> X | InputRequiredResult``.
    """
    try:
        return await procedure()
    except SamplingSuspended as suspended:
        return suspended.result
    except BaseExceptionGroup as group:  # raised inside a task group
        match, rest = group.split(SamplingSuspended)
        if match is None:
            raise
        if rest is not None:
            raise rest from None
        return _first_leaf(match).result


def _first_leaf(group: BaseExceptionGroup[Any]) -> Any:
    leaf: Any = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


class SamplingLLM(BaseLLM):
    """The :class:`~langmem_mcp.llm.base.LLM` interface over an MCP ``Context``."""

    backend = "sampling"

    def __init__(
        self,
        ctx: Any,
        *,
        max_tokens: int = 4096,
        timeout: float | None = None,
        native_tools: bool | None = None,
        model_hints: Sequence[str] = (),
        prompts: PromptLibrary | None = None,
        on_usage: UsageHook | None = None,
    ) -> None:
        super().__init__(max_tokens=max_tokens, on_usage=on_usage)
        if not client_supports_sampling(ctx):
            raise LLMUnavailable("the connected MCP client does not support sampling")
        self.ctx = ctx
        self.timeout = timeout
        self.native_tools = client_supports_sampling_tools(ctx) if native_tools is None else native_tools
        self.model_hints = list(model_hints)
        self.prompts = prompts
        self.replay = uses_input_required(ctx)
        if not self.replay and not ctx.session.can_send_request:
            raise LLMUnavailable(
                "this MCP connection cannot carry sampling requests (e.g. stateless JSON HTTP); "
                "use stdio, SSE or streamable HTTP with streaming, or set ANTHROPIC_API_KEY"
            )
        self._calls = 0
        self._recorded: list[dict[str, Any]] = []
        self._asked: dict[str, str] = {}
        if self.replay:
            self._recorded, self._asked = _decode_state(ctx.request_state)

    # ---- the call ----

    async def _complete(
        self,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        tool_choice: ToolChoice | None,
        max_tokens: int,
        procedure: str,
    ) -> LLMResponse:
        from mcp_types import CreateMessageResult, CreateMessageResultWithTools

        index = self._calls
        self._calls += 1
        native = bool(tools) and self.native_tools
        params = self._params(system, messages, tools, tool_choice, max_tokens, native)
        result_type = CreateMessageResultWithTools if native else CreateMessageResult
        if not self.replay:
            result = await self._send(params, result_type)
            return self._response(result, tools, native, procedure, index, system, messages, tool_choice)

        wire = self._answer(index, params, result_type)
        result = result_type.model_validate(wire["r"])
        response = self._response(result, tools, native, procedure, index, system, messages, tool_choice)
        response.replayed = wire.get("replayed", False)
        return response

    def _answer(self, index: int, params: Any, result_type: type[Any]) -> dict[str, Any]:
        """The recorded or just-arrived answer to call ``index``, or suspend to ask for it."""
        from mcp_types import CreateMessageRequest, InputRequiredResult
        from pydantic import ValidationError

        q = _digest(params)
        if index < len(self._recorded):
            entry = self._recorded[index]
            if entry.get("q") == q:
                return {"r": entry["r"], "replayed": True}
            logger.warning("sampling replay diverged at call %d; asking again from there", index)
            del self._recorded[index:]
        key = f"{_KEY_PREFIX}{index}"
        answer = (self.ctx.input_responses or {}).get(key)
        if answer is not None and self._asked.get(key) == q:
            raw = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                result_type.model_validate(raw)
            except ValidationError as exc:
                raise LLMError("the MCP client's sampling reply has the wrong shape") from exc
            self._recorded.append({"q": q, "r": raw})
            return {"r": raw, "replayed": False}
        request = CreateMessageRequest(params=params)
        state = _encode_state(self._recorded, {key: q})
        raise SamplingSuspended(InputRequiredResult(input_requests={key: request}, request_state=state))

    async def _send(self, params: Any, result_type: type[Any]) -> Any:
        from mcp.shared.exceptions import MCPError, NoBackChannelError
        from mcp.shared.message import ServerMessageMetadata
        from mcp_types import CreateMessageRequest
        from pydantic import ValidationError

        try:
            return await self.ctx.session.send_request(
                CreateMessageRequest(params=params),
                result_type,
                request_read_timeout_seconds=self.timeout,
                metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id),
            )
        except NoBackChannelError as exc:
            raise LLMUnavailable("this MCP connection cannot carry sampling requests") from exc
        except MCPError as exc:
            raise LLMError(f"the MCP client refused the sampling request: {exc}") from exc
        except ValidationError as exc:
            raise LLMError("the MCP client's sampling reply has the wrong shape") from exc
        except TimeoutError as exc:
            raise LLMError(f"the MCP client did not answer sampling within {self.timeout} s") from exc

    # ---- translation ----

    def _params(
        self,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        tool_choice: ToolChoice | None,
        max_tokens: int,
        native: bool,
    ) -> Any:
        from mcp_types import CreateMessageRequestParams, ModelHint, ModelPreferences, Tool
        from mcp_types import ToolChoice as McpToolChoice

        prefs = (
            ModelPreferences(hints=[ModelHint(name=h) for h in self.model_hints])
            if self.model_hints
            else None
        )
        if native:
            chosen = tools
            mode = _NATIVE_MODE.get(tool_choice or "auto")
            if mode is None:  # one named tool: offer only it and require a call
                chosen, mode = [t for t in tools if t.name == tool_choice], "required"
            return CreateMessageRequestParams(
                messages=_native_messages(messages),
                system_prompt=system or None,
                max_tokens=max_tokens,
                model_preferences=prefs,
                tools=[
                    Tool(name=t.name, description=t.description, input_schema=t.input_schema) for t in chosen
                ],
                tool_choice=McpToolChoice(mode=mode),
            )
        if tools and tool_choice != "none":
            system = (system + "\n\n" if system else "") + self._tools_instruction(tools, tool_choice)
        return CreateMessageRequestParams(
            messages=_text_messages(messages),
            system_prompt=system or None,
            max_tokens=max_tokens,
            model_preferences=prefs,
        )

    def _tools_instruction(self, tools: list[ToolSpec], tool_choice: ToolChoice | None) -> str:
        listing = "\n\n".join(
            f"- {t.name}: {t.description}\n  input JSON schema: {json.dumps(t.input_schema, ensure_ascii=False)}"
            for t in tools
        )
        requirement = _REQUIREMENT.get(tool_choice or "auto") or f"You must call the tool {tool_choice}."
        return (self.prompts or default_library()).render(TOOLS_JSON, tools=listing, requirement=requirement)

    def _response(
        self,
        result: Any,
        tools: list[ToolSpec],
        native: bool,
        procedure: str,
        index: int,
        system: str,
        messages: list[Message],
        tool_choice: ToolChoice | None,
    ) -> LLMResponse:
        blocks = result.content if isinstance(result.content, list) else [result.content]
        texts = [b.text for b in blocks if getattr(b, "type", None) == "text"]
        calls = [
            ToolCall(b.id, b.name, dict(b.input)) for b in blocks if getattr(b, "type", None) == "tool_use"
        ]
        text = "".join(texts)
        if tools and not native and tool_choice != "none":
            text, calls = parse_json_tool_calls(text, {t.name for t in tools}, f"toolu_s{index}")
        stop = _STOP.get(result.stop_reason or "", result.stop_reason)
        if calls and stop in (None, "end_turn"):
            stop = "tool_use"
        prompt_chars = len(system) + sum(
            len(json.dumps(m.get("content"), ensure_ascii=False)) for m in messages
        )
        answer_chars = len(text) + sum(len(json.dumps(c.input, ensure_ascii=False)) for c in calls)
        usage = Usage(
            backend=self.backend,
            model=result.model,
            input_tokens=prompt_chars // 4,
            output_tokens=answer_chars // 4,
            procedure=procedure,
            estimated=True,
        )
        return LLMResponse(text, calls, stop, usage)


_NATIVE_MODE: dict[str, Literal["auto", "required", "none"]] = {
    "auto": "auto",
    "any": "required",
    "none": "none",
}
_STOP = {
    "endTurn": "end_turn",
    "stopSequence": "stop_sequence",
    "maxTokens": "max_tokens",
    "toolUse": "tool_use",
}


def _native_messages(messages: list[Message]) -> list[Any]:
    """Anthropic-shaped turns as sampling messages; tool results go in a turn of their own."""
    from mcp_types import SamplingMessage, TextContent, ToolResultContent, ToolUseContent

    out: list[Any] = []
    for m in messages:
        content = m["content"]
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else content
        )
        results: list[Any] = [
            ToolResultContent(
                tool_use_id=b["tool_use_id"],
                content=[TextContent(text=tool_result_text(b) or "(empty)")],
                is_error=bool(b.get("is_error")) or None,
            )
            for b in blocks
            if b.get("type") == "tool_result"
        ]
        others: list[Any] = []
        for b in blocks:
            if b.get("type") == "text" and b.get("text"):
                others.append(TextContent(text=b["text"]))
            elif b.get("type") == "tool_use":
                others.append(ToolUseContent(id=b["id"], name=b["name"], input=b.get("input") or {}))
        if results:
            out.append(SamplingMessage(role=m["role"], content=results))
        if others:
            out.append(SamplingMessage(role=m["role"], content=others))
    return out


def _text_messages(messages: list[Message]) -> list[Any]:
    """Turns as plain text, tool calls and results written out as JSON for a tool-less host."""
    from mcp_types import SamplingMessage, TextContent

    out: list[Any] = []
    for m in messages:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts: list[str] = []
        calls = [
            {"id": b["id"], "name": b["name"], "input": b.get("input") or {}}
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        for b in blocks:
            if b.get("type") == "text" and b.get("text"):
                parts.append(b["text"])
            elif b.get("type") == "tool_result":
                label = "Error from" if b.get("is_error") else "Result of"
                parts.append(f"{label} tool call {b['tool_use_id']}:\n{tool_result_text(b)}")
        if calls:
            parts.append(json.dumps({"tool_calls": calls}, ensure_ascii=False))
        text = "\n\n".join(parts) or "(empty)"
        if out and out[-1].role == m["role"]:
            out[-1] = SamplingMessage(
                role=m["role"], content=TextContent(text=out[-1].content.text + "\n\n" + text)
            )
        else:
            out.append(SamplingMessage(role=m["role"], content=TextContent(text=text)))
    return out


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json_tool_calls(text: str, tool_names: set[str], id_prefix: str) -> tuple[str, list[ToolCall]]:
    """Tool calls from a JSON reply: ``{"tool_calls": [{"name", "input"}]}``, one call, or a list.

    Returns the text left over (empty when the reply was only JSON) and the calls. A reply
    that holds no parseable call comes back as text, so the caller can correct the model or
    read the text. Outside ``{"tool_calls": ...}`` a call must name one of ``tool_names``: a
    tool's input on its own may well have a ``name`` field.
    """
    data = _find_json(text)
    if data is None:
        return text, []
    if isinstance(data, dict) and "tool_calls" in data:
        items = data["tool_calls"]
    elif isinstance(data, dict) and data.get("name") in tool_names:
        items = [data]
    elif isinstance(data, list) and all(isinstance(i, dict) and i.get("name") in tool_names for i in data):
        items = data
    else:
        return text, []
    calls: list[ToolCall] = []
    for j, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        args = item.get("input", item.get("arguments", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {}
        calls.append(ToolCall(f"{id_prefix}_{j}", item["name"], args if isinstance(args, dict) else {}))
    if not calls and not (isinstance(data, dict) and data.get("tool_calls") == []):
        return text, []
    return "", calls


def _find_json(text: str) -> Any:
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        chunk = chunk.strip()
        for opener, closer in (("{", "}"), ("[", "]")):
            start, end = chunk.find(opener), chunk.rfind(closer)
            if start != -1 and end > start:
                try:
                    return json.loads(chunk[start : end + 1])
                except ValueError:
                    continue
    return None


def _digest(params: Any) -> str:
    raw = json.dumps(params.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()[:16]).decode().rstrip("=")


def _encode_state(recorded: list[dict[str, Any]], asked: dict[str, str]) -> str:
    return json.dumps({"v": _STATE_VERSION, "calls": recorded, "asked": asked}, separators=(",", ":"))


def _decode_state(state: str | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    if not state:
        return [], {}
    try:
        data = json.loads(state)
    except ValueError:
        return [], {}
    if not isinstance(data, dict) or data.get("v") != _STATE_VERSION:
        return [], {}
    calls = [c for c in data.get("calls", []) if isinstance(c, dict) and "q" in c and "r" in c]
    asked = {k: v for k, v in (data.get("asked") or {}).items() if isinstance(k, str) and isinstance(v, str)}
    return calls, asked
