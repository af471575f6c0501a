"""Episodic memory through a real MCP client: episodes distilled by a model (a scripted
Anthropic-compatible endpoint), kept raw without one and distilled later, found by search_memory,
served as worked examples (the few_shot prompt and resource), and used by optimize_prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from langmem_mcp.config import Settings
from langmem_mcp.service import inputs
from langmem_mcp.service.container import open_services
from tests.fake_anthropic import FakeAnthropic, text, tools
from tests.mcp_client import call, call_error, memory_session, read_json


def anthropic_env(fake: FakeAnthropic) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": fake.url,
        "LANGMEM_MCP_LLM_MAX_RETRIES": "0",
    }


NO_MODEL = {"LANGMEM_MCP_LLM": "none"}
DEPLOY = [
    {"role": "user", "content": "Deploy the web app to production."},
    {"role": "assistant", "content": "I ran the deploy script; it failed because DATABASE_URL was unset."},
]
FAILED = {
    "task": "deploy a web app to production",
    "situation": "The production deploy of the web app stopped at start-up.",
    "attempt": "Ran the deploy script straight away, without checking the environment.",
    "outcome": "failure",
    "lesson": "A deploy without DATABASE_URL set fails at start-up.",
}
WORKED = {
    "task": "deploy a web app to production",
    "situation": "The production deploy of the web app needed its database settings.",
    "attempt": "Checked the environment, set DATABASE_URL, then ran the deploy script.",
    "outcome": "success",
    "lesson": "Check the environment variables before running the deploy script.",
}
TESTS = {
    "task": "write unit tests",
    "situation": "A parser had no tests.",
    "attempt": "Wrote table-driven tests for each grammar rule.",
    "outcome": "success",
    "lesson": "Table-driven tests cover grammar rules cheaply.",
}


def user_text(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"])


async def test_a_model_distils_episodes_and_an_invalid_one_is_fed_back(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        fake.add(
            tools(("record_episodes", {"episodes": [{**FAILED, "outcome": "maybe"}]})),
            tools(("record_episodes", {"episodes": [FAILED]})),
        )
        out = await call(s, "record_episode", trajectories=[[DEPLOY, "It failed: the site is down."]])
        assert out["method"] == "llm" and out["backend"] == "anthropic" and out["raw_id"] is None
        [stored] = out["episodes"]
        assert stored["episode"] == FAILED
        first, second = fake.bodies
        assert "DATABASE_URL was unset" in user_text(first) and "the site is down" in user_text(first)
        assert first["tool_choice"] == {"type": "tool", "name": "record_episodes"}
        assert "outcome" in user_text(second) and "'maybe' is not one of" in user_text(second)

        hits = (await call(s, "search_memory", query="deploy failed", namespace=["episodes"]))["memories"]
        [hit] = hits
        assert hit["id"] == stored["id"] and hit["content"].startswith("Task: deploy a web app to production")
        assert hit["metadata"]["episode"] == FAILED and hit["metadata"]["outcome"] == "failure"


async def test_without_a_model_the_trajectory_is_kept_raw_and_distilled_later(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    async with memory_session(tmp_path, **NO_MODEL) as s:
        out = await call(s, "record_episode", trajectories=[[DEPLOY, "It failed: the site is down."]])
        assert (
            out["method"] == "raw" and out["episodes"] == [] and out["task"]["procedure"] == "record_episode"
        )
        raw = out["raw_id"]
        [hit] = (await call(s, "search_memory", query="deploy", namespace=["episodes"]))["memories"]
        assert hit["id"] == raw and hit["metadata"] == {
            "kind": "episode",
            "status": "raw",
            "source": "record_episode",
        }
        assert "the site is down" in hit["content"]
        assert (await read_json(s, "llm://waiting"))["episodes"] == 1

    # later, with a model: the raw episode is distilled and goes away
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        fake.add(
            text(
                "Task: deploy a web app to production\n"
                + "\n".join(
                    f"{k.capitalize() if k != 'attempt' else 'Tried'}: {FAILED[k]}"
                    for k in ("situation", "attempt", "outcome", "lesson")
                )
            )
        )
        out = await call(s, "record_episode", task_id=f"episode:{raw}")
        assert out["method"] == "llm" and out["raw_id"] == raw
        assert [e["episode"] for e in out["episodes"]] == [FAILED]
        assert "the site is down" in user_text(fake.bodies[0])
        hits = (await call(s, "search_memory", query="deploy", namespace=["episodes"]))["memories"]
        assert [h["id"] for h in hits] == [out["episodes"][0]["id"]]
        assert (await read_json(s, "llm://waiting"))["episodes"] == 0
        assert "no raw episode" in await call_error(s, "record_episode", task_id=f"episode:{raw}")


async def test_the_success_ranks_first_for_a_similar_task(tmp_path: Path) -> None:
    """Boston-style: a failure, then a success on the same kind of task; asked later about a similar
    task, the worked examples put the success first (the failure still shows, as what to avoid)."""
    async with memory_session(tmp_path, **NO_MODEL) as s:
        for episode in (FAILED, TESTS, WORKED):
            out = await call(s, "record_episode", episodes=[episode])
            assert out["method"] == "host_agent" and out["episodes"][0]["action"] == "created"

        task = "deploy the API service to production"
        got = await s.get_prompt("few_shot", {"task": task, "k": "2"})
        examples = got.messages[0].content.text
        assert examples.startswith(f"Worked examples from past episodes, for the task: {task}")
        assert examples.index("(success)") < examples.index("(failure)")
        assert "Check the environment variables before running the deploy script." in examples
        assert "write unit tests" not in examples  # k=2: the two deploy episodes

        page = await s.read_resource("llm://few-shot/deploy%20the%20API%20service%20to%20production?k=1")
        [example] = page.contents[0].text.split("### Example ")[1:]
        assert example.startswith("1: deploy a web app to production (success)")

        # plain search finds episodes like any memory
        hits = (await call(s, "search_memory", query="table-driven tests", namespace=["episodes"]))[
            "memories"
        ]
        assert hits[0]["metadata"]["episode"] == TESTS

        listed = {p.name for p in (await s.list_prompts()).prompts}
        assert {"few_shot", "distill"} <= listed
        none = await s.get_prompt("few_shot", {"task": "bake sourdough bread"})
        assert (
            "write unit tests" in none.messages[0].content.text
            or "No recorded" in none.messages[0].content.text
        )


async def test_episodes_are_checked_and_live_under_episodes(tmp_path: Path) -> None:
    async with memory_session(tmp_path, **NO_MODEL) as s:
        message = await call_error(s, "record_episode", episodes=[{**WORKED, "lesson": ""}])
        assert "episodes[0]" in message and "lesson" in message
        message = await call_error(
            s, "record_episode", episodes=[{k: v for k, v in WORKED.items() if k != "task"}]
        )
        assert "'task' is a required property" in message
        assert "under ['episodes']" in await call_error(
            s, "record_episode", episodes=[WORKED], namespace=["memories"]
        )
        out = await call(
            s, "record_episode", episodes=[{**WORKED, "outcome": "Succeeded"}], namespace=["episodes", "web"]
        )
        assert (
            out["namespace"] == ["episodes", "web"] and out["episodes"][0]["episode"]["outcome"] == "success"
        )
        assert (await read_json(s, "memory://list/episodes"))["memories"] == []
        got = await s.get_prompt("few_shot", {"task": "deploy"})
        assert "No recorded episodes" in got.messages[0].content.text  # ["episodes"] only, not web
        page = await s.read_resource("llm://few-shot/deploy?namespace=episodes%2Fweb")
        assert "(success)" in page.contents[0].text
        assert "needs trajectories" in await call_error(s, "record_episode")
        with pytest.raises(MCPError, match="k must be between 1 and 10"):
            await s.get_prompt("few_shot", {"task": "deploy", "k": "99"})


async def test_an_episode_from_a_stored_thread(tmp_path: Path, fake: FakeAnthropic) -> None:
    async with open_services(Settings(data_dir=tmp_path)) as services:
        await services.threads.add_messages("deploy-1", inputs.messages(DEPLOY))
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        fake.add(tools(("record_episodes", {"episodes": [FAILED]})))
        out = await call(s, "record_episode", thread_id="deploy-1", feedback="The site went down.")
        assert [e["episode"] for e in out["episodes"]] == [FAILED]
        sent = user_text(fake.bodies[0])
        assert "DATABASE_URL was unset" in sent and "The site went down." in sent


async def test_optimize_prompt_learns_from_stored_episodes(tmp_path: Path, fake: FakeAnthropic) -> None:
    async with memory_session(tmp_path, **anthropic_env(fake)) as s:
        assert "no stored episodes" in await call_error(
            s, "optimize_prompt", prompt="You deploy web apps.", episodes="deploy a web app"
        )
        for episode in (FAILED, WORKED):
            await call(s, "record_episode", episodes=[episode])
        better = "You deploy web apps. Check the environment variables before deploying."
        fake.add(
            tools(("update_prompt", {"analysis": "env", "should_update": True, "improved_prompt": better}))
        )
        out = await call(
            s,
            "optimize_prompt",
            prompt="You deploy web apps.",
            episodes="deploy a web app",
            kind="prompt_memory",
        )
        assert out["prompt"] == better and out["updated"] == ["prompt"]
        sent = user_text(fake.bodies[-1])
        assert (
            "Ran the deploy script straight away" in sent and "failure: A deploy without DATABASE_URL" in sent
        )
        assert "success: Check the environment variables" in sent


def test_rank_puts_what_worked_first_only_within_the_same_kind_of_task() -> None:
    from langmem_mcp.engine.episodes import Found, rank

    failed = Found("f", 0.33, {"task": "deploy a web app to production", "outcome": "failure"}, "2024-01-01")
    other = Found("o", 0.29, {"task": "write unit tests", "outcome": "success"}, "2024-01-03")
    worked = Found("w", 0.25, {"task": "deploy web app to production", "outcome": "success"}, "2024-01-02")
    assert [f.id for f in rank([failed, other, worked], 3)] == ["w", "o", "f"]
    assert [f.id for f in rank([failed, other, worked], 1)] == ["w"]
    older = Found("w0", 0.25, {"task": "deploy a web app to production", "outcome": "success"}, "2023-01-01")
    assert [f.id for f in rank([failed, worked, older], 3)] == ["w", "w0", "f"]  # ties: the more recent


def test_episodes_read_from_labelled_text() -> None:
    from langmem_mcp.engine.episodes import check_episodes, episodes_from_text

    answer = (
        "Here are the episodes:\n"
        "**Task:** deploy a web app\n**Situation:** DATABASE_URL unset.\n**Tried:** ran the script.\n"
        "**Outcome:** Failed\n**Lesson:** set DATABASE_URL first.\n\n"
        "Task: deploy a web app\nSituation: second try.\nWhat was tried: set it,\n  then deployed.\n"
        "Result: worked\nLesson learned: check the environment."
    )
    first, second = check_episodes(episodes_from_text(answer)["episodes"])
    assert first == {
        "task": "deploy a web app",
        "situation": "DATABASE_URL unset.",
        "attempt": "ran the script.",
        "outcome": "failure",
        "lesson": "set DATABASE_URL first.",
    }
    assert second["attempt"] == "set it, then deployed." and second["outcome"] == "success"
    assert episodes_from_text("I could not find any episode in there.") is None
