"""Work waiting for a model: conversations captured while no model was configured, and raw episodes.

The count is the cheap function a SessionStart hook calls (SQLite only); the MCP prompt `distill`
turns the waiting work into host-agent tasks, and their calls mark it done. With a model, the same
task ids are distilled by the model, and formation with a model leaves nothing waiting.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.service import inputs
from langmem_mcp.service.container import open_services
from langmem_mcp.service.waiting import WaitingWork, waiting_work
from langmem_mcp.store.sqlite import Database
from tests.fake_anthropic import FakeAnthropic, Reply, tools
from tests.mcp_client import call, call_error, memory_session, read_json

NO_MODEL = {"LANGMEM_MCP_LLM": "none"}


def said(text: str, user: str = "ana") -> dict[str, Any]:
    return {"role": "user", "content": text, "metadata": {"user_id": user}}


SESSION = [
    said("I switched our CI from Travis to GitHub Actions today."),
    {"role": "assistant", "content": "Nice. Anything to watch for?"},
    said("Yes: the cache key must include the lockfile hash."),
]


async def capture(data_dir: Path, thread_id: str, messages: list[dict[str, Any]], **metadata: Any) -> None:
    """What a capture hook does: add the session's messages to a thread."""
    async with open_services(Settings(data_dir=data_dir, llm="none")) as services:
        await services.threads.add_messages(thread_id, inputs.messages(messages), metadata or None)


def distill_calls(text: str, tool: str = "extract_memories") -> list[dict[str, Any]]:
    return [json.loads(m) for m in re.findall(rf"^{tool}\((\{{.*\}})\)$", text, re.MULTILINE)]


async def test_the_count_a_session_start_hook_shows(tmp_path: Path) -> None:
    await capture(tmp_path, "s1", SESSION)
    await capture(tmp_path, "s2", [said("I prefer pytest over unittest.")])
    await capture(tmp_path, "bot-only", [{"role": "assistant", "content": "Hello!"}])  # nothing to distil
    async with memory_session(tmp_path, **NO_MODEL) as s:
        await call(s, "record_episode", trajectories=[[SESSION, "it worked"]])
    db = await Database.open(Settings(data_dir=tmp_path).db_path)
    try:
        work = await waiting_work(db)
        assert work == WaitingWork(threads=2, episodes=1)
        assert work.describe() == (
            "2 conversations and 1 raw episode wait to be distilled into memories; the MCP prompt "
            "`distill` walks you through it (no model is needed on the server)."
        )
        assert await waiting_work(db, "users/bob") == WaitingWork(0, 0)  # another scope's: none
        assert await waiting_work(db, None) == work
    finally:
        await db.close()
    assert WaitingWork(0, 0).describe() == ""


async def test_the_distill_prompt_gives_tasks_and_their_calls_mark_the_work_done(tmp_path: Path) -> None:
    await capture(tmp_path, "s1", SESSION)
    async with memory_session(tmp_path, **NO_MODEL) as s:
        await call(s, "record_episode", trajectories=[[SESSION, "it worked"]])
        assert (await read_json(s, "llm://waiting"))["threads"] == 1

        got = await s.get_prompt("distill", {})
        text = got.messages[0].content.text
        assert text.startswith(
            "The memory server has work waiting for a model: 1 conversation and 1 raw episode."
        )
        assert (
            "## Task 1" in text and "## Task 2" in text and "cache key must include the lockfile hash" in text
        )
        [task] = distill_calls(text)
        assert re.fullmatch(r"distill:s1:\d+", task["task_id"]) and task["namespace"] == ["users", "ana"]
        [episode_task] = distill_calls(text, "record_episode")
        episode = {
            "task": "migrate CI",
            "situation": "CI moved from Travis to GitHub Actions.",
            "attempt": "Keyed the cache on the lockfile hash.",
            "outcome": "success",
            "lesson": "Include the lockfile hash in CI cache keys.",
        }
        stored = await call(s, "record_episode", **{**episode_task, "episodes": [episode]})
        assert stored["episodes"][0]["episode"] == episode
        assert (await read_json(s, "llm://waiting"))["episodes"] == 0

        facts = [
            "CI runs on GitHub Actions (moved from Travis).",
            "The CI cache key includes the lockfile hash.",
        ]
        out = await call(
            s, "extract_memories", task_id=task["task_id"], namespace=task["namespace"], memories=facts
        )
        assert [m["content"] for m in out["inserted"]] == facts and out["method"] == "host_agent"
        hits = (await call(s, "search_memory", query="CI cache key", namespace=["users", "ana"]))["memories"]
        assert hits[0]["content"] == facts[1]
        assert (await read_json(s, "llm://waiting"))["threads"] == 0

    # new messages in the same conversation wait again, and only they are shown
    await capture(tmp_path, "s1", [said("Also: deploys need a manual approval now.")])
    async with memory_session(tmp_path, **NO_MODEL) as s:
        text = (await s.get_prompt("distill", {})).messages[0].content.text
        assert "manual approval" in text and "lockfile hash" not in text
        [task] = distill_calls(text)
        done = await call(
            s, "extract_memories", task_id=task["task_id"], memories=[]
        )  # nothing worth keeping
        assert done["inserted"] == [] and done["namespace"] == ["users", "ana"]
        assert (await read_json(s, "llm://waiting"))["threads"] == 0


async def test_a_server_model_distils_the_same_task_and_formation_leaves_nothing_waiting(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    await capture(tmp_path, "s1", SESSION, namespace="projects/ci")
    env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": fake.url, "LANGMEM_MCP_LLM_MAX_RETRIES": "0"}
    async with memory_session(tmp_path, **env) as s:
        [task] = distill_calls((await s.get_prompt("distill", {})).messages[0].content.text)
        assert task["namespace"] == ["projects", "ci"]  # the thread's own namespace
        fake.add(tools(("insert_memory", {"content": "CI runs on GitHub Actions."}), ("done", {})))
        out = await call(s, "extract_memories", task_id=task["task_id"])
        assert out["backend"] == "anthropic" and out["namespace"] == ["projects", "ci"]
        assert "lockfile hash" in json.dumps(fake.bodies[0]["messages"])
        assert (await read_json(s, "llm://waiting"))["threads"] == 0
        again = await call(s, "extract_memories", task_id=task["task_id"])
        assert again["inserted"] == [] and len(fake.requests) == 1  # distilled already: no model call

        def semantic(body: dict[str, Any]) -> Reply:
            return tools(
                ("insert_memory", {"content": "Bob prefers pytest.", "importance": 0.7}), ("done", {})
            )

        fake.add(semantic)
        tid = (await call(s, "add_messages", messages=[said("I prefer pytest.", "bob")]))["thread_id"]
        assert (await read_json(s, "llm://waiting"))["threads"] == 1
        report = await call(s, "trigger_formation", thread_id=tid)
        assert [r["status"] for r in report["runs"]] == ["formed"]
        assert (await read_json(s, "llm://waiting"))["threads"] == 0


async def test_a_long_conversation_is_distilled_in_chunks(tmp_path: Path) -> None:
    await capture(tmp_path, "long", [said(f"Fact {i}: " + "detail " * 400) for i in range(12)])
    async with memory_session(tmp_path, **NO_MODEL) as s:
        first = (await s.get_prompt("distill", {})).messages[0].content.text
        [task] = distill_calls(first)
        assert "Fact 0:" in first and "Fact 11:" not in first
        await call(s, "extract_memories", task_id=task["task_id"], memories=["Fact zero is kept."])
        assert (await read_json(s, "llm://waiting"))["threads"] == 1  # the rest still waits
        second = (await s.get_prompt("distill", {})).messages[0].content.text
        assert "Fact 0:" not in second and "Fact 11:" in second


async def test_bad_task_ids_are_clear_errors(tmp_path: Path) -> None:
    async with memory_session(tmp_path, **NO_MODEL) as s:
        assert "task_id must be 'distill:" in await call_error(
            s, "extract_memories", task_id="x", memories=[]
        )
        assert "no thread" in await call_error(s, "extract_memories", task_id="distill:nope:3", memories=[])
        text = (await s.get_prompt("distill", {})).messages[0].content.text
        assert text.startswith("Nothing waits to be distilled")
