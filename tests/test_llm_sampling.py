"""MCP sampling through a real MCP client (the SDK's Client, in process) with scripted replies.

Covers the default negotiated protocol (2026-07-28: multi-round ``InputRequiredResult``
with record/replay) and the handshake-era one (2025-11-25: requests mid-call), each with
and without the client's ``sampling.tools`` capability.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    CreateMessageResultWithTools,
    InputRequiredResult,
    SamplingCapability,
    SamplingToolsCapability,
    TextContent,
    ToolUseContent,
)

from langmem_mcp.config import Settings
from langmem_mcp.engine.extraction import extract_memories
from langmem_mcp.engine.memory_functions import user_state
from langmem_mcp.engine.optimizer import optimize_prompt
from langmem_mcp.engine.summary import summarize_thread
from langmem_mcp.llm.base import LLMError, LLMUnavailable, ToolSpec
from langmem_mcp.llm.factory import make_llm
from langmem_mcp.llm.sampling import SamplingLLM, parse_json_tool_calls, run_sampled

CONVERSATION = [{"role": "user", "content": "I moved to Lisbon and I am vegetarian."}]


def build_server(settings: Settings) -> MCPServer:
    server = MCPServer("sampling-test")

    @server.tool()
    async def remember(text: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
        """Extract memories from one user message with the host's model."""
        try:  # the real surfaces map LangmemError to a tool error the same way
            llm = make_llm(settings, ctx)
        except LLMUnavailable as exc:
            raise ToolError(str(exc)) from exc

        async def run() -> dict[str, Any]:
            result = await extract_memories(llm, [{"role": "user", "content": text}], max_steps=3)
            return {
                "inserted": [o.content for o in result.inserted],
                "finished": result.finished,
                "backend": llm.backend,
                "native_tools": getattr(llm, "native_tools", None),
                "protocol": ctx.protocol_version,
                "fresh_calls": len(llm.usage_log),
            }

        return await run_sampled(ctx, run)

    @server.tool()
    async def improve(prompt: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
        """Optimise a prompt (several model calls) with the host's model."""
        llm = make_llm(settings, ctx)

        async def run() -> dict[str, Any]:
            trajectories = [[CONVERSATION, {"score": 0, "comment": "too long"}]]
            result = await optimize_prompt(llm, trajectories, prompt, kind="gradient", max_reflection_steps=2)
            return {"prompt": result.prompt, "updated": result.updated, "reason": result.reason}

        return await run_sampled(ctx, run)

    @server.tool()
    async def summarize(ctx: Context) -> dict[str, Any] | InputRequiredResult:
        """Summarise the conversation with the host's model."""
        llm = make_llm(settings, ctx)

        async def run() -> dict[str, Any]:
            try:  # the real surfaces map LangmemError to a tool error the same way
                return await summarize_thread(CONVERSATION, llm=llm)
            except LLMError as exc:
                raise ToolError(str(exc)) from exc

        return await run_sampled(ctx, run)

    @server.tool()
    async def profile(ctx: Context) -> dict[str, Any] | InputRequiredResult:
        """Patch a user profile with the host's model."""
        llm = make_llm(settings, ctx)

        async def run() -> dict[str, Any]:
            return (await user_state(llm, CONVERSATION, PROFILE, {"name": "Ana"})).state

        return await run_sampled(ctx, run)

    @server.tool()
    async def rewrite(prompt: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
        """Rewrite a prompt in one pass (prompt_memory) with the host's model."""
        llm = make_llm(settings, ctx)

        async def run() -> dict[str, Any]:
            trajectories = [[CONVERSATION, "mention the city"]]
            result = await optimize_prompt(llm, trajectories, prompt, kind="prompt_memory")
            return {"prompt": result.prompt, "updated": result.updated, "reason": result.reason}

        return await run_sampled(ctx, run)

    return server


PROFILE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "city": {"type": "string"}, "diet": {"type": "string"}},
}


class Host:
    """A scripted host model: answers sampling requests in order and keeps what it was asked."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.requests: list[CreateMessageRequestParams] = []

    async def __call__(self, context: Any, params: CreateMessageRequestParams) -> Any:
        self.requests.append(params)
        reply = self.replies.pop(0)
        return reply(params) if callable(reply) else reply


def native(*calls: tuple[str, dict[str, Any]]) -> CreateMessageResultWithTools:
    return CreateMessageResultWithTools(
        role="assistant",
        content=[
            ToolUseContent(id=f"call-{i}-{name}", name=name, input=args)
            for i, (name, args) in enumerate(calls)
        ],
        model="host-model",
        stop_reason="toolUse",
    )


def as_json(*calls: tuple[str, dict[str, Any]]) -> CreateMessageResult:
    body = json.dumps({"tool_calls": [{"name": n, "input": a} for n, a in calls]})
    return CreateMessageResult(
        role="assistant",
        content=TextContent(text=f"```json\n{body}\n```"),
        model="host-model",
        stop_reason="endTurn",
    )


def says(answer: str) -> CreateMessageResult:
    """A host answering in text although tools were offered (as described in the system prompt)."""
    return CreateMessageResult(
        role="assistant", content=TextContent(text=answer), model="host-model", stop_reason="endTurn"
    )


def says_natively(answer: str) -> CreateMessageResultWithTools:
    """A host with native tool support answering in text anyway."""
    return CreateMessageResultWithTools(
        role="assistant", content=[TextContent(text=answer)], model="host-model", stop_reason="endTurn"
    )


TOOLS_CAP = SamplingCapability(tools=SamplingToolsCapability())
SAMPLING = Settings(llm="sampling")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_memory_manager_over_sampling_without_tool_support(mode):
    host = Host(
        [
            as_json(
                ("insert_memory", {"content": "The user lives in Lisbon."}),
                ("insert_memory", {"content": ""}),
            ),
            as_json(("insert_memory", {"content": "The user is vegetarian."}), ("done", {})),
        ]
    )
    async with Client(build_server(SAMPLING), mode=mode, sampling_callback=host) as client:
        result = await client.call_tool("remember", {"text": CONVERSATION[0]["content"]})
    assert not result.is_error, result.content
    out = result.structured_content
    assert out["inserted"] == ["The user lives in Lisbon.", "The user is vegetarian."]
    assert out["finished"] is True and out["backend"] == "sampling" and out["native_tools"] is False
    assert out["protocol"] == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert len(host.requests) == 2  # each question asked once, answers replayed from request state
    first, second = host.requests
    assert (
        first.tools is None and "tool_calls" in first.system_prompt and "insert_memory" in first.system_prompt
    )
    assert "Lisbon" in first.messages[0].content.text
    # the second turn replays the model's calls as JSON and the outcome of each, including the refusal
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    feedback = second.messages[2].content.text
    assert "inserted as new-1" in feedback and "content must be a non-empty string" in feedback


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_memory_manager_over_sampling_with_native_tools(mode):
    host = Host([native(("insert_memory", {"content": "The user lives in Lisbon."})), native(("done", {}))])
    async with Client(
        build_server(SAMPLING), mode=mode, sampling_callback=host, sampling_capabilities=TOOLS_CAP
    ) as client:
        result = await client.call_tool("remember", {"text": CONVERSATION[0]["content"]})
    assert not result.is_error, result.content
    assert result.structured_content["inserted"] == ["The user lives in Lisbon."]
    assert result.structured_content["native_tools"] is True
    first, second = host.requests
    assert {t.name for t in first.tools} == {"insert_memory", "update_memory", "supersede_memory", "done"}
    assert first.tool_choice.mode == "required"
    assert second.messages[1].content_as_list[0].type == "tool_use"
    tool_result = second.messages[2].content_as_list[0]
    assert tool_result.type == "tool_result" and tool_result.tool_use_id == "call-0-insert_memory"
    assert tool_result.content[0].text == "inserted as new-1"


async def test_several_sequential_calls_in_one_tool_call_on_the_default_protocol():
    host = Host(
        [
            native(("think", {"thought": "The answers are too long."})),
            native(("recommend", {"warrants_adjustment": True, "full_recommendations": "Ask for brevity."})),
            native(
                (
                    "update_prompt",
                    {"analysis": "a", "should_update": True, "improved_prompt": "Be brief, {name}."},
                )
            ),
        ]
    )
    async with Client(
        build_server(SAMPLING), sampling_callback=host, sampling_capabilities=TOOLS_CAP
    ) as client:
        result = await client.call_tool("improve", {"prompt": "Help {name}."})
    assert not result.is_error, result.content
    assert result.structured_content == {"prompt": "Be brief, {name}.", "updated": True, "reason": ""}
    assert len(host.requests) == 3
    assert host.requests[2].tool_choice.mode == "required" and [t.name for t in host.requests[2].tools] == [
        "update_prompt"
    ]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_client_without_sampling_gets_a_helpful_error(mode):
    async with Client(build_server(Settings(llm="auto")), mode=mode) as client:
        result = await client.call_tool("remember", {"text": "hi"})
    assert result.is_error
    message = result.content[0].text
    assert "ANTHROPIC_API_KEY" in message and "sampling" in message


async def test_make_llm_outside_a_request_and_sampling_requires_capability():
    with pytest.raises(LLMUnavailable):
        make_llm(SAMPLING, ctx=None)
    with pytest.raises(LLMUnavailable):
        SamplingLLM(Context())


def test_json_tool_call_parsing():
    names = {"a", "b"}
    assert parse_json_tool_calls('{"tool_calls": [{"name": "a", "input": {"x": 1}}]}', names, "p") == (
        "",
        [("p_0", "a", {"x": 1})],
    )
    text, calls = parse_json_tool_calls(
        'Sure!\n```json\n{"name": "b", "arguments": "{\\"y\\": 2}"}\n```', names, "p"
    )
    assert calls == [("p_0", "b", {"y": 2})] and text == ""
    assert parse_json_tool_calls("no json here", names, "p") == ("no json here", [])
    assert parse_json_tool_calls('{"tool_calls": []}', names, "p") == ("", [])
    # a tool's input with a "name" field is not a call to a tool of that name
    patch = '{"name": "Ana", "city": "Lisbon"}'
    assert parse_json_tool_calls(patch, names, "p") == (patch, [])
    assert parse_json_tool_calls('[{"name": "Ana"}]', names, "p") == ('[{"name": "Ana"}]', [])


def test_tool_spec_translation_keeps_named_choice():
    spec = ToolSpec("only", "d", {"type": "object", "properties": {}})

    class Ctx:
        client_capabilities = type(
            "C", (), {"sampling": SamplingCapability(tools=SamplingToolsCapability())}
        )()
        protocol_version = "2026-07-28"
        request_state = None
        input_responses = None

    llm = SamplingLLM(Ctx())
    params = llm._params(
        "s", [{"role": "user", "content": "x"}], [spec, ToolSpec("other", "d", {})], "only", 10, True
    )
    assert [t.name for t in params.tools] == ["only"] and params.tool_choice.mode == "required"


# ---- hosts answering in text instead of calling the tool ----


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_prose_summary_from_a_generic_sampling_handler(mode):
    prose = "Here is the summary:\nThe user moved to Lisbon. The user is vegetarian and cooks in Lisbon."
    host = Host([says(prose)])
    async with Client(build_server(SAMPLING), mode=mode, sampling_callback=host) as client:
        result = await client.call_tool("summarize", {})
    assert not result.is_error, result.content
    assert result.structured_content == {
        "title": "The user moved to Lisbon",
        "summary": "The user moved to Lisbon. The user is vegetarian and cooks in Lisbon.",
        "topics": ["user", "lisbon", "moved", "vegetarian", "cooks"],
        "method": "llm",
    }
    assert len(host.requests) == 1 and "write_summary" in host.requests[0].system_prompt


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_bulleted_memories_from_a_host_with_native_tools_answering_in_text(mode):
    host = Host([says_natively("I would remember:\n- The user lives in Lisbon.\n- The user is vegetarian.")])
    async with Client(
        build_server(SAMPLING), mode=mode, sampling_callback=host, sampling_capabilities=TOOLS_CAP
    ) as client:
        result = await client.call_tool("remember", {"text": CONVERSATION[0]["content"]})
    assert not result.is_error, result.content
    out = result.structured_content
    assert out["inserted"] == ["The user lives in Lisbon.", "The user is vegetarian."]
    assert out["finished"] is True and out["native_tools"] is True and len(host.requests) == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_bare_json_patch_with_a_name_field(mode):
    host = Host([says('{"name": "Ana", "city": "Lisbon", "diet": "vegetarian"}')])
    async with Client(build_server(SAMPLING), mode=mode, sampling_callback=host) as client:
        result = await client.call_tool("profile", {})
    assert not result.is_error, result.content
    assert result.structured_content == {"name": "Ana", "city": "Lisbon", "diet": "vegetarian"}


async def test_a_prose_prompt_that_drops_a_placeholder_keeps_the_original():
    host = Host([says("Help the user and mention Lisbon."), says("Help the user; mention their city.")])
    async with Client(build_server(SAMPLING), sampling_callback=host) as client:
        result = await client.call_tool("rewrite", {"prompt": "Help {name}."})
    assert not result.is_error, result.content
    assert result.structured_content == {
        "prompt": "Help {name}.",
        "updated": False,
        "reason": "the improved prompt drops the placeholder(s) {name}",
    }
    assert len(host.requests) == 2
    feedback = host.requests[1].messages[-1].content.text
    assert "drops the placeholder(s) {name}" in feedback

    host = Host([says("Help {name}, and mention their city.")])
    async with Client(build_server(SAMPLING), sampling_callback=host) as client:
        result = await client.call_tool("rewrite", {"prompt": "Help {name}."})
    assert result.structured_content["prompt"] == "Help {name}, and mention their city."


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_malformed_json_from_the_host_is_fed_back_once_then_a_clear_error(mode):
    host = Host([says('```json\n{"title": "Lisbon", "summary": \n```'), says('{"title": "Lisbon",')])
    async with Client(build_server(SAMPLING), mode=mode, sampling_callback=host) as client:
        result = await client.call_tool("summarize", {})
    assert result.is_error
    assert (
        "the model did not produce a valid summary: the reply's JSON does not parse" in result.content[0].text
    )
    assert len(host.requests) == 2
    assert "does not parse" in host.requests[1].messages[-1].content.text
