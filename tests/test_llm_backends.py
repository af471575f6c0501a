"""Every LLM procedure with every backend, through a real MCP client: each yields a stored, valid
result, or (with no model at all) a host-agent task whose call completes it to one. Never a bare
error.

Backends: a scripted Anthropic-compatible endpoint that calls tools, one that answers in text only,
an MCP client whose sampling returns tool calls (native tool use), one whose sampling returns prose
(a generic handler, no tool support), and no model at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    CreateMessageResultWithTools,
    SamplingCapability,
    SamplingToolsCapability,
    TextContent,
    ToolUseContent,
)

from langmem_mcp.server.app import build_server
from tests.fake_anthropic import FakeAnthropic, Reply, text, tools
from tests.mcp_client import call, read_json, server_settings

CONVERSATION = [
    {"role": "user", "content": "I moved from Porto to Lisbon last month."},
    {"role": "assistant", "content": "How do you like Lisbon?"},
]
FACT = "The user lives in Lisbon."
SUMMARY = {"title": "Moving to Lisbon", "summary": "The user moved from Porto to Lisbon.", "topics": ["move"]}
SUMMARY_PROSE = "The user moved from Porto to Lisbon last month and likes it there."
PROMPT = "Help {name} with their questions."
BETTER = "Help {name} with their questions. Answer in two sentences at most."
EPISODE = {
    "task": "deploy the web app",
    "situation": "The deploy failed on a missing environment variable.",
    "attempt": "Added DATABASE_URL to the service's settings and redeployed.",
    "outcome": "success",
    "lesson": "Check the service's environment variables before deploying.",
}
EPISODE_PROSE = "\n".join(
    f"{label}: {EPISODE[key]}"
    for label, key in (
        ("Task", "task"),
        ("Situation", "situation"),
        ("Tried", "attempt"),
        ("Outcome", "outcome"),
        ("Lesson", "lesson"),
    )
)
TRAJECTORY = [
    [
        [
            {"role": "user", "content": "The deploy of the web app fails: DATABASE_URL is missing."},
            {"role": "assistant", "content": "I added DATABASE_URL to the service settings and redeployed."},
        ],
        "It worked, thanks.",
    ]
]

#: What a model answers, by the tool the procedure asks for: tool calls, or text.
CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "record_episodes": [("record_episodes", {"episodes": [EPISODE]})],
    "write_summary": [("write_summary", SUMMARY)],
    "update_prompt": [
        ("update_prompt", {"analysis": "too long", "should_update": True, "improved_prompt": BETTER})
    ],
    "insert_memory": [("insert_memory", {"content": FACT}), ("done", {})],
}
PROSE = {
    "record_episodes": EPISODE_PROSE,
    "write_summary": SUMMARY_PROSE,
    "update_prompt": BETTER,
    "insert_memory": f"Worth remembering:\n- {FACT}",
}


def asked(names: str) -> str:
    """The tool a request asks for, from the tool names (or a system prompt listing them)."""
    return next(name for name in CALLS if name in names)


# ---- the backends ---------------------------------------------------------------------------


def anthropic_env(fake: FakeAnthropic) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": fake.url,
        "LANGMEM_MCP_LLM_MAX_RETRIES": "0",
    }


def endpoint(style: str) -> Callable[[dict[str, Any]], Reply]:
    def reply(body: dict[str, Any]) -> Reply:
        tool = asked(" ".join(t["name"] for t in body.get("tools", [])))
        return tools(*CALLS[tool]) if style == "tools" else text(PROSE[tool])

    return reply


class Host:
    """An MCP client's sampling handler: native tool calls, or prose (a generic handler)."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.requests = 0

    async def __call__(self, context: Any, params: CreateMessageRequestParams) -> Any:
        self.requests += 1
        if self.style == "tools":
            tool = asked(" ".join(t.name for t in params.tools or []))
            return CreateMessageResultWithTools(
                role="assistant",
                content=[ToolUseContent(id=f"c{i}", name=n, input=a) for i, (n, a) in enumerate(CALLS[tool])],
                model="host-model",
                stop_reason="toolUse",
            )
        tool = asked(params.system_prompt or "")
        return CreateMessageResult(
            role="assistant", content=TextContent(text=PROSE[tool]), model="host-model", stop_reason="endTurn"
        )


BACKENDS = ["anthropic-tools", "anthropic-text", "sampling-tools", "sampling-prose", "none"]


@asynccontextmanager
async def connect(backend: str, data_dir: Path, fake: FakeAnthropic) -> AsyncIterator[Any]:
    """The SDK's client on the server in process (its call_tool answers sampling's input rounds)."""
    env: dict[str, str] = {"LANGMEM_MCP_LLM": "none"}
    host, caps = None, None
    if backend.startswith("anthropic"):
        fake.add(*[endpoint(backend.split("-")[1])] * 20)
        env = anthropic_env(fake)
    elif backend.startswith("sampling"):
        style = backend.split("-")[1]
        host = Host(style)
        caps = SamplingCapability(tools=SamplingToolsCapability()) if style == "tools" else None
        env = {"LANGMEM_MCP_LLM": "sampling"}
    server = build_server(server_settings(data_dir, **env))
    async with Client(server, sampling_callback=host, sampling_capabilities=caps) as client:
        yield client


# ---- completing a host-agent task -------------------------------------------------------------


async def complete(session: Any, task: dict[str, Any], fill: dict[str, Any]) -> dict[str, Any]:
    """Make the task's first call with its <...> values filled as the agent would."""
    first = task["complete_with"][0]
    arguments = dict(first["arguments"])
    for key, value in fill.items():
        shown = arguments[key]
        assert "<" in json.dumps(shown), f"{key} is not a value to fill: {shown}"
        arguments[key] = value
    return await call(session, first["tool"], **arguments)


# ---- the procedures ---------------------------------------------------------------------------


async def extract(session: Any) -> None:
    out = await call(session, "extract_memories", messages=CONVERSATION)
    if out["method"] == "host_agent":
        assert out["inserted"] == [] and "Porto to Lisbon" in out["task"]["material"]
        assert (await complete(session, out["task"], {"content": FACT}))["action"] == "created"
    else:
        assert [m["content"] for m in out["inserted"]] == [FACT]
    [hit] = (await call(session, "search_memory", query="where does the user live"))["memories"]
    assert hit["content"] == FACT


async def summarize(session: Any) -> None:
    out = await call(session, "summarize_thread", thread_id="matrix", messages=CONVERSATION)
    if out["task"] is not None:
        assert out["method"] == "extractive" and out["memory_id"]  # stored meanwhile
        done = await complete(session, out["task"], {"summary": SUMMARY})
        assert done["method"] == "host_agent" and done["memory_id"] == out["memory_id"]
        out = done
    assert out["memory_id"] and out["method"] in ("llm", "host_agent")
    [stored] = (await read_json(session, "memory://list/threads%2Fmatrix%2Fsummary"))["memories"]
    assert stored["id"] == out["memory_id"] and stored["content"].startswith(out["summary"]["title"])
    assert set(out["summary"]) == {"title", "summary", "topics"}


async def optimize(session: Any) -> None:
    given = {"name": "helper", "prompt": PROMPT}
    out = await call(
        session,
        "optimize_prompt",
        prompt=given,
        trajectories=[[CONVERSATION, "too long"]],
        kind="prompt_memory",
    )
    if out["method"] == "host_agent":
        assert out["prompt"] == PROMPT and out["updated"] == []
        out = await complete(session, out["task"], {"proposed_prompt": BETTER})
    assert out["prompt"] == BETTER and out["updated"] == ["helper"]
    history = await read_json(session, "llm://optimized/helper")
    assert history["latest"]["prompt"] == BETTER


async def record(session: Any) -> None:
    out = await call(session, "record_episode", trajectories=TRAJECTORY)
    if out["method"] == "raw":
        raw = out["raw_id"]
        assert out["task"]["complete_with"][0]["arguments"]["task_id"] == f"episode:{raw}"
        out = await complete(session, out["task"], {"episodes": [EPISODE]})
        assert out["method"] == "host_agent" and out["raw_id"] == raw
    [stored] = out["episodes"]
    assert stored["episode"] == EPISODE and out["namespace"] == ["episodes"]
    hits = (await call(session, "search_memory", query="deploy web app", namespace=["episodes"]))["memories"]
    assert [h["id"] for h in hits] == [stored["id"]]  # the raw episode, if any, is gone
    assert hits[0]["metadata"]["kind"] == "episode" and hits[0]["metadata"]["status"] == "distilled"


PROCEDURES = {"extract_memories": extract, "summarize_thread": summarize, "optimize_prompt": optimize}
PROCEDURES["record_episode"] = record


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("procedure", list(PROCEDURES))
async def test_every_procedure_with_every_backend(
    tmp_path: Path, fake: FakeAnthropic, backend: str, procedure: str
) -> None:
    async with connect(backend, tmp_path, fake) as session:
        await PROCEDURES[procedure](session)
    if backend.startswith("anthropic"):
        assert fake.requests and all(r["status"] == 200 for r in fake.requests)
    else:
        assert fake.requests == []
