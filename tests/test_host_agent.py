"""The calling agent as the model: with no model on the server, each procedure returns a task, and
the agent's call that completes it goes through the same checks as a model's answer. Nothing the
checks refuse is stored, and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

from langmem_mcp.engine.host_agent import MATERIAL_BUDGET
from tests.mcp_client import call, call_error, memory_session, read_json

CONVERSATION = [
    {"role": "user", "content": "I moved from Porto to Lisbon last month. I am vegetarian now."},
    {"role": "assistant", "content": "Noted! How do you like Lisbon?"},
]
PREFERENCE = {
    "title": "Preference",
    "type": "object",
    "properties": {"topic": {"type": "string"}, "likes": {"type": "boolean"}},
    "required": ["topic", "likes"],
}
NO_MODEL = {"LANGMEM_MCP_LLM": "none"}


async def test_extraction_task_shows_relevant_memories_and_its_calls_store_facts(tmp_path: Path) -> None:
    async with memory_session(tmp_path, **NO_MODEL) as s:
        porto = (await call(s, "manage_memory", content="The user lives in Porto.", namespace=["u"]))["id"]
        out = await call(s, "extract_memories", messages=CONVERSATION, namespace=["u"], enable_deletes=True)
        task = out["task"]
        assert out["method"] == "host_agent" and task["procedure"] == "extract_memories"
        assert "The user lives in Porto." in task["material"] and porto in task["material"]
        assert "No model is configured" in task["instructions"]
        create, update, delete = task["complete_with"]
        assert create == {
            "tool": "manage_memory",
            "arguments": {"action": "create", "content": "<one new memory>", "namespace": ["u"]},
        }
        assert update["arguments"]["action"] == "update" and delete["arguments"]["action"] == "delete"
        # nothing is stored until the agent acts
        assert len((await read_json(s, "memory://list/u"))["memories"]) == 1

        await call(
            s, **{"tool": "manage_memory", **create["arguments"], "content": "The user is vegetarian."}
        )
        args = {**update["arguments"], "id": porto, "content": "The user lives in Lisbon (moved from Porto)."}
        await call(s, "manage_memory", **args)
        stored = sorted(m["content"] for m in (await read_json(s, "memory://list/u"))["memories"])
        assert stored == ["The user is vegetarian.", "The user lives in Lisbon (moved from Porto)."]


async def test_structured_memories_are_checked_against_their_schema_all_or_nothing(tmp_path: Path) -> None:
    async with memory_session(tmp_path, **NO_MODEL) as s:
        out = await call(
            s, "extract_memories", messages=CONVERSATION, namespace=["prefs"], schemas=[PREFERENCE]
        )
        [complete] = out["task"]["complete_with"]
        args = complete["arguments"]
        assert complete["tool"] == "extract_memories" and args["schemas"] == [PREFERENCE]
        assert args["memories"] == [{"content": {"topic": "<topic: string>", "likes": "<likes: boolean>"}}]

        bad = [{"content": {"topic": "coffee", "likes": False}}, {"content": {"topic": "meat"}}]
        message = await call_error(s, "extract_memories", **{**args, "memories": bad})
        assert (
            "nothing was stored" in message
            and "memories[1]" in message
            and "'likes' is a required" in message
        )
        assert (await read_json(s, "memory://list/prefs"))["memories"] == []

        good = [
            {"content": {"topic": "coffee", "likes": False}},
            {"content": {"topic": "meat", "likes": False}},
        ]
        done = await call(s, "extract_memories", **{**args, "memories": good})
        assert done["method"] == "host_agent" and [m["content"] for m in done["inserted"]] == [
            {"topic": "coffee", "likes": False},
            {"topic": "meat", "likes": False},
        ]
        [first, _] = (await read_json(s, "memory://list/prefs"))["memories"]
        assert json.loads(first["content"]) == {"likes": False, "topic": "coffee"}
        assert first["metadata"]["kind"] == "Preference"

        assert "non-empty list" in await call_error(s, "extract_memories", memories=[])
        assert "non-empty string" in await call_error(s, "extract_memories", memories=["  "])


async def test_a_summary_given_by_the_agent_is_checked_then_replaces_the_extractive_one(
    tmp_path: Path,
) -> None:
    async with memory_session(tmp_path, **NO_MODEL) as s:
        out = await call(s, "summarize_thread", thread_id="trip", messages=CONVERSATION)
        assert out["method"] == "extractive" and out["memory_id"]
        [complete] = out["task"]["complete_with"]
        assert complete["arguments"]["thread_id"] == "trip"
        assert set(complete["arguments"]["summary"]) == {"title", "summary", "topics"}
        assert '"required"' in out["task"]["instructions"]  # the schema to follow

        message = await call_error(s, "summarize_thread", thread_id="trip", summary={"title": "Lisbon"})
        assert "does not follow the schema" in message and "'summary' is a required property" in message
        [kept] = (await read_json(s, "memory://list/threads%2Ftrip%2Fsummary"))["memories"]
        assert kept["metadata"]["method"] == "extractive"  # the refused summary changed nothing

        summary = {"title": "Moving to Lisbon", "summary": "The user moved to Lisbon.", "topics": ["move"]}
        done = await call(s, "summarize_thread", thread_id="trip", summary=summary)
        assert done["method"] == "host_agent" and done["memory_id"] == out["memory_id"]
        [stored] = (await read_json(s, "memory://list/threads%2Ftrip%2Fsummary"))["memories"]
        assert stored["content"] == "Moving to Lisbon\n\nThe user moved to Lisbon.\nTopics: move"
        assert stored["metadata"]["method"] == "host_agent"

        assert "thread_id" in await call_error(s, "summarize_thread", summary=summary)


async def test_a_proposed_prompt_keeps_its_placeholders_or_is_refused(tmp_path: Path) -> None:
    spec = {"name": "helper", "prompt": "Help {name} with their questions."}
    async with memory_session(tmp_path, **NO_MODEL) as s:
        out = await call(
            s, "optimize_prompt", prompt=spec, trajectories=[[CONVERSATION, "Use my name; be brief."]]
        )
        assert out["method"] == "host_agent" and out["prompt"] == spec["prompt"] and out["updated"] == []
        [complete] = out["task"]["complete_with"]
        assert complete["arguments"] == {"prompt": spec, "proposed_prompt": "<the complete improved prompt>"}
        assert "Use my name; be brief." in out["task"]["material"]
        assert (await read_json(s, "llm://optimized"))["prompts"] == []

        message = await call_error(s, "optimize_prompt", prompt=spec, proposed_prompt="Be brief.")
        assert "drops the placeholder(s) {name}" in message and "unchanged" in message
        assert (await read_json(s, "llm://optimized"))["prompts"] == []

        done = await call(s, "optimize_prompt", prompt=spec, proposed_prompt="Greet {name}. Be brief.")
        assert done["updated"] == ["helper"] and done["outcomes"][0]["version"] == 2
        history = await read_json(s, "llm://optimized/helper")
        assert [v["prompt"] for v in history["history"]] == [spec["prompt"], "Greet {name}. Be brief."]
        got = await s.get_prompt("optimized_helper", {"name": "Ana"})
        assert got.messages[0].content.text == "Greet Ana. Be brief."

        several = await call(
            s,
            "optimize_prompt",
            prompts=[spec, {"name": "tone", "prompt": "Be formal."}],
            trajectories=[[CONVERSATION, "too cold"]],
        )
        assert [c["arguments"]["prompt"]["name"] for c in several["task"]["complete_with"]] == [
            "helper",
            "tone",
        ]
        assert "one prompt" in await call_error(
            s, "optimize_prompt", prompts=[spec], proposed_prompt="Greet {name}."
        )


async def test_long_material_is_trimmed_to_its_budget_keeping_the_latest(tmp_path: Path) -> None:
    long = [{"role": "user", "content": f"Message {i}: " + "words " * 200} for i in range(60)]
    long.append({"role": "user", "content": "The last thing: I switched to a standing desk."})
    async with memory_session(tmp_path, **NO_MODEL) as s:
        out = await call(s, "extract_memories", messages=long)
        task = out["task"]
        assert task["trimmed"] is True and len(task["material"]) <= MATERIAL_BUDGET + 500
        assert "standing desk" in task["material"] and "Message 0:" not in task["material"]
        assert "[earlier messages left out]" in task["material"]
