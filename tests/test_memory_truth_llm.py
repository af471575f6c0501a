"""Supersede and correction in the LLM paths, with the real Anthropic SDK against a scripted
Messages API: extract_memories and background formation. Nothing is lost: a corrected memory
keeps its old text in its history, a superseded one stays as what was true before, and
query_user_memory ranks only what is true now unless asked otherwise."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from tests.fake_anthropic import FakeAnthropic, Reply, tools
from tests.mcp_client import call, memory_session, read_json

CONVERSATION = [
    {"role": "user", "content": "Big news: I moved from Porto to Lisbon last month."},
    {"role": "assistant", "content": "Congratulations! And your sister, Ana?"},
    {"role": "user", "content": "Yes, Ana, with one n. She is staying in Porto."},
]


def anthropic_env(fake: FakeAnthropic) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": fake.url,
        "LANGMEM_MCP_LLM_MAX_RETRIES": "0",
        "LANGMEM_MCP_LLM_TIMEOUT": "10",
    }


def system_text(body: dict[str, Any]) -> str:
    system = body.get("system", "")
    return system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)


async def test_extract_memories_corrects_and_supersedes_and_loses_nothing(tmp_path: Path) -> None:
    with FakeAnthropic() as fake:
        async with memory_session(tmp_path, **anthropic_env(fake)) as s:
            porto = (await call(s, "manage_memory", content="The user lives in Porto."))["id"]
            sister = (await call(s, "manage_memory", content="The user's sister is called Anna."))["id"]
            fake.add(
                tools(
                    ("supersede_memory", {"replaces": porto, "content": "The user lives in Lisbon."}),
                    ("update_memory", {"id": sister, "content": "The user's sister is called Ana."}),
                    ("supersede_memory", {"replaces": "made-up", "content": "x"}),
                ),
                tools(("done", {})),
            )
            out = await call(s, "extract_memories", messages=CONVERSATION)

            # the model was offered both operations, told when to use which, and saw the ids
            body = fake.bodies[0]
            names = {t["name"] for t in body["tools"]}
            assert {"update_memory", "supersede_memory"} <= names
            system = system_text(body)
            assert "Update a memory that was wrong (a correction)" in system
            assert "supersede a memory that was true but no longer is" in system
            assert porto in json.dumps(body["messages"][0])
            results = [
                b
                for m in fake.bodies[1]["messages"]
                if isinstance(m["content"], list)
                for b in m["content"]
                if b.get("type") == "tool_result"
            ]
            assert [r["is_error"] for r in results] == [False, False, True]
            assert results[0]["content"].startswith(f"superseded {porto}")

            [moved] = out["superseded"]
            assert moved["superseded"] == porto and moved["action"] == "superseded"
            assert moved["content"] == "The user lives in Lisbon." and moved["id"] != porto
            assert [u["id"] for u in out["updated"]] == [sister]
            assert out["inserted"] == out["deleted"] == out["skipped"] == []

            hits = (await call(s, "search_memory", query="where does the user live"))["memories"]
            assert hits[0]["id"] == moved["id"] and porto not in {h["id"] for h in hits}
            old = await read_json(s, f"memory://item/memories/{porto}")
            assert old["content"] == "The user lives in Porto." and old["superseded_by"] == moved["id"]
            history = await read_json(s, f"memory://history/memories/{sister}")
            assert [v["content"] for v in history["versions"]] == [
                "The user's sister is called Anna.",
                "The user's sister is called Ana.",
            ]

            # superseded memories are no longer shown to the model as existing ones
            fake.add(tools(("done", {})))
            await call(s, "extract_memories", messages=CONVERSATION)
            shown = json.dumps(fake.bodies[-1]["messages"][0])
            assert moved["id"] in shown and porto not in shown


UUID = re.compile(r'"id": "([0-9a-f-]{36})"')


def formation(body: dict[str, Any]) -> Reply:
    """The semantic memory function: the first conversation says Porto; the second, Lisbon: the
    model supersedes the memory it was shown."""
    prompt = json.dumps(body["messages"][0]["content"])
    if "Lisbon" not in prompt:
        return tools(("insert_memory", {"content": "Will lives in Porto.", "importance": 0.8}), ("done", {}))
    [shown] = UUID.findall(prompt.replace('\\"', '"'))
    return tools(
        ("supersede_memory", {"replaces": shown, "content": "Will lives in Lisbon.", "importance": 0.8}),
        ("done", {}),
    )


async def test_formation_supersedes_and_query_ranks_what_is_true_now(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())

    def said(text: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": text, "name": "Will", "metadata": {"user_id": uid}}]

    with FakeAnthropic([formation] * 4) as fake:
        async with memory_session(tmp_path, **anthropic_env(fake)) as s:
            first = (await call(s, "add_messages", messages=said("I live in Porto.")))["thread_id"]
            assert (await call(s, "trigger_formation", thread_id=first))["memories_formed"] == 1
            second = (await call(s, "add_messages", messages=said("I moved to Lisbon!")))["thread_id"]
            report = await call(s, "trigger_formation", thread_id=second)
            assert report["memories_formed"] == 1 and len(fake.requests) == 2

            now = await call(s, "query_user_memory", user_id=uid, text="where does Will live")
            assert [m["text"] for m in now["memories"]] == ["Will lives in Lisbon."]
            assert now["memories"][0]["metadata"]["thread_id"] == second
            every = await call(
                s, "query_user_memory", user_id=uid, text="where does Will live", include_superseded=True
            )
            by_text = {m["text"]: m for m in every["memories"]}
            assert set(by_text) == {"Will lives in Lisbon.", "Will lives in Porto."}
            assert by_text["Will lives in Porto."]["superseded_by"] == by_text["Will lives in Lisbon."]["id"]
            assert "superseded_by" not in by_text["Will lives in Lisbon."]
            # the function's state lists what is true now
            [state] = [
                m
                for m in await read_json(s, f"langmem://users/{uid}/memory")
                if m["type"] == "user_semantic_memory"
            ]
            assert [m["text"] for m in state["state"]] == ["Will lives in Lisbon."] and state["count"] == 1
            assert state["state"][0]["valid_from"] == state["state"][0]["created_at"]
