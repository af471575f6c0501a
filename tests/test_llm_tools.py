"""The LLM tools end to end: the server driven by a real MCP client (the SDK's, in this process).

The Anthropic path runs the real SDK against scripted Messages-API responses on loopback
(tests/fake_anthropic.py); the sampling path answers from the client's sampling callback on
both protocol versions; the no-LLM path must fail clearly (and summarise extractively).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import CreateMessageRequestParams, CreateMessageResult, TextContent

from langmem_mcp.llm.prompts import shipped_dir
from langmem_mcp.service import inputs
from tests.fake_anthropic import FakeAnthropic, error, text, tools
from tests.mcp_client import call, call_error, memory_session, read_json, server_settings

CONVERSATION = [
    {"role": "user", "content": "I moved from Porto to Lisbon last month. I am vegetarian now."},
    {"role": "assistant", "content": "Noted! How do you like Lisbon?"},
    {"role": "user", "content": "A lot. I stopped drinking coffee, by the way."},
]


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def anthropic_env(fake: FakeAnthropic, **extra: str) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": fake.url,
        "LANGMEM_MCP_ANTHROPIC_MODEL": "claude-test",
        "LANGMEM_MCP_LLM_MAX_RETRIES": "2",
        "LANGMEM_MCP_LLM_TIMEOUT": "10",
        **extra,
    }


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]


def system_text(body: dict[str, Any]) -> str:
    system = body.get("system", "")
    return system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)


# ---- no LLM -------------------------------------------------------------------------------


async def test_without_an_llm_the_tools_give_the_agent_a_task_and_summaries_are_extractive(tmp_path):
    async with memory_session(tmp_path, LANGMEM_MCP_LLM="none") as s:
        for tool, args in (
            ("extract_memories", {"messages": CONVERSATION}),
            ("optimize_prompt", {"prompt": "Be helpful.", "trajectories": [[CONVERSATION, "too long"]]}),
        ):
            out = await call(s, tool, **args)
            assert out["method"] == "host_agent" and out["task"]["procedure"] == tool
            why = out["task"]["why"]
            assert "ANTHROPIC_API_KEY" in why and "sampling" in why, why

        first = await call(s, "summarize_thread", thread_id="t-1", messages=CONVERSATION)
        assert first["method"] == "extractive" and "ANTHROPIC_API_KEY" in first["note"]
        assert first["task"]["complete_with"][0]["tool"] == "summarize_thread"
        assert set(first["summary"]) == {"title", "summary", "topics"}
        assert "Lisbon" in first["summary"]["summary"]
        assert first["namespace"] == ["threads", "t-1", "summary"]
        page = await read_json(s, "memory://list/threads%2Ft-1%2Fsummary")
        [stored] = page["memories"]
        assert stored["id"] == first["memory_id"] and stored["metadata"]["kind"] == "thread_summary"
        assert first["summary"]["title"] in stored["content"]

        # summarising the thread again replaces its one summary memory
        longer = CONVERSATION + [{"role": "user", "content": "My sister Ana visits me in Lisbon in June."}]
        again = await call(s, "summarize_thread", thread_id="t-1", messages=longer)
        assert again["memory_id"] == first["memory_id"]
        page = await read_json(s, "memory://list/threads%2Ft-1%2Fsummary")
        assert len(page["memories"]) == 1

        # messages without a thread: returned, not stored
        loose = await call(s, "summarize_thread", messages=CONVERSATION)
        assert loose["memory_id"] is None and loose["method"] == "extractive"

        # bad input is a clear error
        assert "thread_id" in await call_error(s, "summarize_thread")
        assert "content" in await call_error(s, "summarize_thread", messages=[{"role": "user"}])

        # everything else keeps working
        made = await call(s, "manage_memory", content="The user likes tea.")
        assert made["action"] == "created"


async def test_summarize_a_stored_thread_by_id(tmp_path):
    """Messages come from the threads service (issue 3); the summary is the thread's memory."""
    from langmem_mcp.config import Settings
    from langmem_mcp.service.container import open_services

    async with open_services(Settings(data_dir=tmp_path)) as services:
        await services.threads.add_messages("trip", inputs.messages(CONVERSATION))
    async with memory_session(tmp_path, LANGMEM_MCP_LLM="none") as s:
        out = await call(s, "summarize_thread", thread_id="trip")
        assert out["method"] == "extractive" and "Lisbon" in out["summary"]["summary"]
        page = await read_json(s, "memory://list/threads%2Ftrip%2Fsummary")
        assert [m["id"] for m in page["memories"]] == [out["memory_id"]]
        assert "no thread" in await call_error(s, "summarize_thread", thread_id="nowhere")


# ---- Anthropic ----------------------------------------------------------------------------


async def test_extract_memories_inserts_updates_and_deletes_through_the_anthropic_api(tmp_path, fake):
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        porto = (await call(s, "manage_memory", content="The user lives in Porto."))["id"]
        coffee = (await call(s, "manage_memory", content="The user drinks coffee every morning."))["id"]
        fake.add(
            error(429, "rate_limit_error", {"retry-after": "0"}),
            tools(
                ("insert_memory", {"content": 42}),  # malformed: refused and explained
                ("insert_memory", {"content": "The user is vegetarian."}),
                ("update_memory", {"id": porto, "content": "The user lives in Lisbon (moved from Porto)."}),
                ("update_memory", {"id": "made-up-id", "content": "x"}),
            ),
            tools(("delete_memory", {"id": coffee}), ("done", {})),
        )
        out = await call(s, "extract_memories", messages=CONVERSATION, enable_deletes=True)

        assert [r["status"] for r in fake.requests] == [429, 200, 200]
        assert out["backend"] == "anthropic" and out["finished"] is True and out["steps"] == 2
        [inserted] = out["inserted"]
        assert inserted["content"] == "The user is vegetarian." and inserted["action"] == "created"
        assert out["updated"] == [
            {
                "id": porto,
                "action": "updated",
                "kind": "Memory",
                "content": "The user lives in Lisbon (moved from Porto).",
                "importance": None,
            }
        ]
        assert [d["id"] for d in out["deleted"]] == [coffee]
        assert len(out["refused_calls"]) == 2 and any("made-up-id" in r for r in out["refused_calls"])

        # the model saw the existing memories with their ids, and got each call's outcome back
        first = fake.bodies[1]
        assert porto in first["messages"][0]["content"][0]["text"]
        assert {t["name"] for t in first["tools"]} == {
            "insert_memory",
            "update_memory",
            "supersede_memory",
            "delete_memory",
            "done",
        }
        results = tool_results(fake.bodies[2])
        assert [r["is_error"] for r in results] == [True, False, False, True]
        assert "non-empty string" in results[0]["content"] and results[1]["content"] == "inserted as new-1"

        # what was reported is what is stored
        page = await read_json(s, "memory://list/memories")
        assert sorted(m["content"] for m in page["memories"]) == [
            "The user is vegetarian.",
            "The user lives in Lisbon (moved from Porto).",
        ]
        hits = await call(s, "search_memory", query="vegetarian")
        assert hits["memories"][0]["id"] == inserted["id"]

        usage = await read_json(s, "llm://usage")
        assert usage["total_calls"] == 2 and usage["input_tokens"] == 22 and usage["output_tokens"] == 14
        assert usage["by_procedure"][0]["procedure"] == "extract_memories"

        # deletes are off by default: the tool is not even offered
        fake.add(tools(("done", {})))
        out = await call(s, "extract_memories", messages=CONVERSATION)
        assert out["inserted"] == out["updated"] == out["deleted"] == []
        assert "delete_memory" not in {t["name"] for t in fake.bodies[-1]["tools"]}


async def test_structured_memories_and_llm_summary(tmp_path, fake):
    schema = {
        "title": "Preference",
        "type": "object",
        "properties": {"topic": {"type": "string"}, "likes": {"type": "boolean"}},
        "required": ["topic", "likes"],
    }
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        fake.add(
            tools(("insert_memory", {"content": {"topic": "coffee"}})),  # misses "likes": refused
            tools(("insert_memory", {"content": {"topic": "coffee", "likes": False}}), ("done", {})),
        )
        out = await call(
            s, "extract_memories", messages=CONVERSATION, schemas=[schema], namespace=["prefs", "u1"]
        )
        assert [m["content"] for m in out["inserted"]] == [{"topic": "coffee", "likes": False}]
        assert "likes" in out["refused_calls"][0]
        page = await read_json(s, "memory://list/prefs%2Fu1")
        [stored] = page["memories"]
        assert json.loads(stored["content"]) == {"likes": False, "topic": "coffee"}
        assert stored["metadata"]["kind"] == "Preference"

        assert "not a valid JSON schema" in await call_error(
            s, "extract_memories", messages=CONVERSATION, schemas={"title": "X", "type": "no-such-type"}
        )

        fake.add(
            tools(
                (
                    "write_summary",
                    {"title": "Moving to Lisbon", "summary": "The user moved to Lisbon.", "topics": ["move"]},
                )
            )
        )
        summary = await call(s, "summarize_thread", thread_id="t-9", messages=CONVERSATION)
        assert summary["method"] == "llm" and summary["summary"]["title"] == "Moving to Lisbon"
        assert fake.bodies[-1]["tool_choice"] == {"type": "tool", "name": "write_summary"}
        page = await read_json(s, "memory://list/threads%2Ft-9%2Fsummary")
        assert page["memories"][0]["content"].startswith("Moving to Lisbon")


async def test_optimize_prompt_keeps_refused_prompts_and_history_and_offers_mcp_prompts(tmp_path, fake):
    trajectories = [[CONVERSATION, {"score": 0, "comment": "Too long, and it ignored my name."}]]
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        # gradient: the model concludes no adjustment is warranted -> the prompt comes back as is
        fake.add(
            tools(("think", {"thought": "The answers were fine."})),
            tools(("recommend", {"warrants_adjustment": False, "hypotheses": "user mood"})),
        )
        kept = await call(
            s, "optimize_prompt", prompt="Help {name} with their questions.", trajectories=trajectories
        )
        assert kept["prompt"] == "Help {name} with their questions." and kept["updated"] == []
        assert kept["outcomes"][0]["reason"] == "no adjustment warranted"

        # prompt_memory: an empty rewrite (langmem's defect) keeps the original too
        fake.add(
            tools(("update_prompt", {"analysis": "a", "should_update": True, "improved_prompt": ""})),
            tools(("update_prompt", {"analysis": "a", "should_update": True, "improved_prompt": " "})),
        )
        kept = await call(
            s, "optimize_prompt", prompt="Help {name}.", trajectories=trajectories, kind="prompt_memory"
        )
        assert kept["prompt"] == "Help {name}." and "empty" in kept["reason"]

        # a named prompt rewritten (placeholder kept): history and an MCP prompt
        fake.add(
            tools(("think", {"thought": "Too verbose."})),
            tools(
                (
                    "recommend",
                    {"warrants_adjustment": True, "full_recommendations": "Be brief; use the name."},
                )
            ),
            tools(
                (
                    "update_prompt",
                    {
                        "analysis": "brevity",
                        "should_update": True,
                        "improved_prompt": "Greet {name}. Be brief.",
                    },
                )
            ),
        )
        done = await call(
            s,
            "optimize_prompt",
            prompt={"name": "helper", "prompt": "Help {name} with their questions."},
            trajectories=trajectories,
            config={"max_reflection_steps": 2},
        )
        assert done["prompt"] == "Greet {name}. Be brief." and done["updated"] == ["helper"]
        assert done["outcomes"][0]["version"] == 2
        history = await read_json(s, "llm://optimized/helper")
        assert [v["prompt"] for v in history["history"]] == [
            "Help {name} with their questions.",
            "Greet {name}. Be brief.",
        ]
        assert [v["source"] for v in history["history"]] == ["given", "optimized"]
        listed = await s.list_prompts()
        assert "optimized_helper" in {p.name for p in listed.prompts}
        got = await s.get_prompt("optimized_helper", {"name": "Ana"})
        assert got.messages[0].content.text == "Greet Ana. Be brief."

        # multi-prompt: classification picks one; only it is optimised
        fake.add(
            tools(("select_prompts", {"reasoning": "tone", "which": ["tone"]})),
            tools(("update_prompt", {"analysis": "x", "should_update": True, "improved_prompt": "Be warm."})),
        )
        before = len(fake.requests)
        multi = await call(
            s,
            "optimize_prompt",
            prompts=[
                {
                    "name": "search",
                    "prompt": "Search the web for {query}.",
                    "when_to_update": "search issues",
                },
                {"name": "tone", "prompt": "Be formal.", "when_to_update": "tone complaints"},
            ],
            trajectories=[[CONVERSATION, "Too cold and formal."]],
            kind="prompt_memory",
        )
        assert multi["selected"] == ["tone"] and multi["updated"] == ["tone"]
        assert [p["prompt"] for p in multi["prompts"]] == ["Search the web for {query}.", "Be warm."]
        assert len(fake.requests) - before == 2
        classify = fake.bodies[before]
        assert classify["tool_choice"] == {"type": "tool", "name": "select_prompts"}
        assert "search issues" in classify["messages"][0]["content"][0]["text"]

        assert "either prompt" in await call_error(s, "optimize_prompt", trajectories=trajectories)
        assert "max_reflection_steps" in await call_error(
            s, "optimize_prompt", prompt="x", trajectories=trajectories, config={"steps": 9}
        )


async def test_text_answers_from_an_anthropic_compatible_endpoint_are_stored(tmp_path, fake):
    """Local models behind Anthropic-compatible endpoints often answer in text: it is read and stored."""
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        fake.add(
            text(
                "Here is a summary of the conversation:\n\n"
                "The user moved from Porto to Lisbon last month and likes Lisbon. "
                "The user is vegetarian now and stopped drinking coffee."
            )
        )
        out = await call(s, "summarize_thread", thread_id="t-prose", messages=CONVERSATION)
        assert out["method"] == "llm"
        summary = out["summary"]
        assert summary["title"] == "The user moved from Porto to Lisbon last month and likes…"
        assert summary["summary"].startswith("The user moved from Porto") and "lisbon" in summary["topics"]
        page = await read_json(s, "memory://list/threads%2Ft-prose%2Fsummary")
        [stored] = page["memories"]
        assert stored["content"].startswith(summary["title"] + "\n\nThe user moved from Porto")
        assert "Topics: " + ", ".join(summary["topics"]) in stored["content"]

        fake.add(text("Worth remembering:\n- The user lives in Lisbon.\n- The user is vegetarian."))
        out = await call(s, "extract_memories", messages=CONVERSATION)
        assert [m["content"] for m in out["inserted"]] == [
            "The user lives in Lisbon.",
            "The user is vegetarian.",
        ]
        assert out["finished"] is True and out["steps"] == 1
        page = await read_json(s, "memory://list/memories")
        assert sorted(m["content"] for m in page["memories"]) == [
            "The user is vegetarian.",
            "The user lives in Lisbon.",
        ]


# ---- MCP sampling -------------------------------------------------------------------------


class Host:
    """A scripted host model answering the server's sampling requests (JSON tool calls as text)."""

    def __init__(self, *calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.replies = list(calls)
        self.requests: list[CreateMessageRequestParams] = []

    async def __call__(self, context: Any, params: CreateMessageRequestParams) -> CreateMessageResult:
        self.requests.append(params)
        body = json.dumps({"tool_calls": [{"name": n, "input": i} for n, i in self.replies.pop(0)]})
        return CreateMessageResult(
            role="assistant", content=TextContent(text=body), model="host-model", stop_reason="endTurn"
        )


@asynccontextmanager
async def sampling_client(data_dir: Path, host: Host, mode: str, **env: str) -> AsyncIterator[Client]:
    """A client offering sampling, on the server in this process (as `memory_session`); sampling
    over a spawned stdio server's pipes is in test_reliability_signals (a request in flight)."""
    from langmem_mcp.server.app import build_server

    server = build_server(server_settings(data_dir, **env))
    async with Client(server, mode=mode, sampling_callback=host) as client:  # type: ignore[arg-type]
        yield client


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_extract_memories_with_the_hosts_model_through_sampling(tmp_path, mode):
    host = Host(
        [("insert_memory", {"content": "The user lives in Lisbon."})],
        [("insert_memory", {"content": "The user is vegetarian."}), ("done", {})],
    )
    async with sampling_client(tmp_path, host, mode, LANGMEM_MCP_LLM="sampling") as client:
        # auto: 2026-07-28, where each model call is one InputRequiredResult round; legacy: mid-call requests
        assert client.session.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        result = await client.call_tool("extract_memories", {"messages": CONVERSATION})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out["backend"] == "sampling"
        assert [m["content"] for m in out["inserted"]] == [
            "The user lives in Lisbon.",
            "The user is vegetarian.",
        ]
        assert len(host.requests) == 2  # each model call asked once, whatever the protocol
        assert "Lisbon" in host.requests[0].messages[0].content.text
        # stored once, with the ids reported
        page = await client.read_resource("memory://list/memories")
        stored = json.loads(page.contents[0].text)["memories"]
        assert sorted(m["id"] for m in stored) == sorted(m["id"] for m in out["inserted"])
        usage = json.loads((await client.read_resource("llm://usage")).contents[0].text)
        assert usage["total_calls"] == 2 and usage["by_procedure"][0]["estimated"] is True


async def test_auto_without_key_or_sampling_gives_a_task_and_summaries_still_work(tmp_path):
    async with memory_session(tmp_path) as s:  # a client without sampling, no key
        out = await call(s, "extract_memories", messages=CONVERSATION)
        assert out["method"] == "host_agent"
        assert "no LLM is available" in out["task"]["why"] and "ANTHROPIC_API_KEY" in out["task"]["why"]
        out = await call(s, "summarize_thread", messages=CONVERSATION)
        assert out["method"] == "extractive" and out["task"] is None  # no thread: nothing to store


# ---- prompt templates ---------------------------------------------------------------------


async def wait_for(predicate: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.1)


async def test_edited_templates_are_hot_reloaded_and_a_bad_edit_keeps_the_last_good_one(tmp_path, fake):
    user_dir = tmp_path / "prompts"
    user_dir.mkdir()
    template = user_dir / "summarize_thread.md"
    shipped = (shipped_dir() / "summarize_thread.md").read_text(encoding="utf-8")
    template.write_text("MARKER-ONE\n" + shipped, encoding="utf-8")
    summary = ("write_summary", {"title": "t", "summary": "s", "topics": []})
    async with memory_session(
        tmp_path / "data", **anthropic_env(fake, LANGMEM_MCP_PROMPTS_DIR=str(user_dir))
    ) as s:

        async def loaded() -> str:
            res = await s.read_resource("llm://templates/summarize_thread")
            return res.contents[0].text

        async def summarize() -> str:
            fake.add(tools(summary))
            await call(s, "summarize_thread", messages=CONVERSATION)
            return system_text(fake.bodies[-1])

        assert "MARKER-ONE" in await summarize()

        template.write_text("MARKER-TWO\n" + shipped, encoding="utf-8")

        async def has_two() -> bool:
            return "MARKER-TWO" in await loaded()

        await wait_for(has_two, "the edit to be reloaded")
        sent = await summarize()
        assert "MARKER-TWO" in sent and "MARKER-ONE" not in sent

        # an edit that drops a required placeholder is refused; the last good text stays
        template.write_text("MARKER-THREE, no schema here: $instructions\n", encoding="utf-8")

        async def refused() -> bool:
            return "summarize_thread" in (await read_json(s, "llm://templates"))["problems"]

        await wait_for(refused, "the bad edit to be refused")
        problem = (await read_json(s, "llm://templates"))["problems"]["summarize_thread"]
        assert "$schema" in problem
        sent = await summarize()
        assert "MARKER-TWO" in sent and "MARKER-THREE" not in sent
