"""Formation with an LLM: the real Anthropic SDK in the server against a scripted API.

Every memory function type forms (semantic memories with importance, a user_state profile, a
user_append_state entry, a thread summary) and triggering again calls the model no more.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.fake_anthropic import FakeAnthropic, Reply, text, tools
from tests.mcp_client import call, memory_session, read_json

PROFILE = {
    "title": "UserProfile",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "interests": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "interests"],
}
EVENT = {
    "title": "FormativeEvent",
    "type": "object",
    "properties": {"event": {"type": "string"}, "impact": {"type": "string"}},
    "required": ["event", "impact"],
}
SUMMARY = {
    "title": "ConversationSummary",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "summary", "topics"],
}
FACT = "Will's favourite basketball player is Steph Curry."


def respond(body: dict[str, Any]) -> Reply:
    """Answer each procedure by the tool it asks for."""
    choice = body.get("tool_choice") or {}
    names = {t["name"] for t in body.get("tools", [])}
    if choice.get("name") == "update_profile":
        return tools(("update_profile", {"name": "Will", "interests": ["basketball"]}))
    if choice.get("name") == "append_entries":
        return tools(
            (
                "append_entries",
                {"entries": [{"event": "Watched Steph Curry play", "impact": "Took up basketball"}]},
            )
        )
    if choice.get("name") == "write_summary":
        return tools(
            (
                "write_summary",
                {"title": "Basketball", "summary": "Will loves Steph Curry.", "topics": ["basketball"]},
            )
        )
    if "insert_memory" in names:
        return tools(("insert_memory", {"content": FACT, "importance": 0.9}), ("done", {}))
    raise AssertionError(f"unexpected request: {body}")


async def test_every_function_type_forms_with_an_llm(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    with FakeAnthropic([respond] * 40) as fake:
        env = {
            "ANTHROPIC_API_KEY": "sk-test",
            "LANGMEM_MCP_ANTHROPIC_BASE_URL": fake.url,
            "LANGMEM_MCP_LLM": "auto",
        }
        async with memory_session(tmp_path, **env) as s:
            profile = (
                await call(
                    s,
                    "manage_memory_function",
                    type="user_state",
                    schema=PROFILE,
                    custom_instructions="Keep it short.",
                )
            )["id"]
            events = (await call(s, "manage_memory_function", type="user_append_state", schema=EVENT))["id"]
            summary = (await call(s, "manage_memory_function", type="thread_summary", schema=SUMMARY))["id"]
            messages = [
                {
                    "role": "user",
                    "content": "Hi, I love playing basketball!",
                    "name": "Will",
                    "metadata": {"user_id": uid},
                },
                {"role": "assistant", "content": "Do you have a favorite player?"},
                {
                    "role": "user",
                    "content": "Yeah, Steph Curry is amazing!",
                    "name": "Will",
                    "metadata": {"user_id": uid},
                },
            ]
            tid = (await call(s, "add_messages", messages=messages))["thread_id"]

            report = await call(s, "trigger_formation", thread_id=tid)
            runs = {r["type"]: r for r in report["runs"]}
            assert {t: r["status"] for t, r in runs.items()} == {
                "user_semantic_memory": "formed",
                "user_state": "formed",
                "user_append_state": "formed",
                "thread_summary": "formed",
            }, report
            assert report["memories_formed"] == 4
            calls = len(fake.requests)
            assert calls == 4 and all(r["status"] == 200 for r in fake.requests)
            state_request = next(
                r["body"] for r in fake.requests if r["body"]["tool_choice"].get("name") == "update_profile"
            )
            assert "Keep it short." in state_request["system"]
            assert "Steph Curry" in str(state_request["messages"])

            q = await call(
                s,
                "query_user_memory",
                user_id=uid,
                text="favorite basketball player",
                states_to_return=[profile],
                thread_summaries=[summary],
            )
            assert [m["text"] for m in q["memories"]] == [FACT]
            assert q["memories"][0]["scores"]["importance"] == 0.9
            assert q["state"][0]["state"] == {"name": "Will", "interests": ["basketball"]}
            assert q["state"][0]["status"] == "ok"
            assert q["thread_summaries"][0]["summary"]["summary"] == "Will loves Steph Curry."
            entries = await call(
                s, "query_user_memory", user_id=uid, text="Steph Curry", memory_function_ids=[events]
            )
            assert [m["memory_function_id"] for m in entries["memories"]] == [events]
            assert "Watched Steph Curry play" in entries["memories"][0]["text"]
            appended = await read_json(s, f"langmem://users/{uid}/memory/{events}")
            assert appended["state"] == [
                {"event": "Watched Steph Curry play", "impact": "Took up basketball"}
            ]
            thread_memory = await read_json(s, f"langmem://threads/{tid}/memory/{summary}")
            assert thread_memory["state"]["title"] == "Basketball" and thread_memory["status"] == "ok"

            again = await call(s, "trigger_formation", thread_id=tid)
            assert again["memories_formed"] == 0
            assert {r["status"] for r in again["runs"]} == {"up_to_date"}
            assert len(fake.requests) == calls  # idempotent: the model was not asked again


def respond_in_text(body: dict[str, Any]) -> Reply:
    """Answer each procedure in text, as local models and generic sampling handlers often do."""
    choice = body.get("tool_choice") or {}
    names = {t["name"] for t in body.get("tools", [])}
    if choice.get("name") == "update_profile":
        return text('```json\n{"name": "Will", "interests": ["basketball"]}\n```')
    if choice.get("name") == "append_entries":
        return text('Found one: [{"event": "Watched Steph Curry play", "impact": "Took up basketball"}]')
    if choice.get("name") == "write_summary":
        return text("Will loves basketball. His favourite player is Steph Curry.")
    if "insert_memory" in names:
        return text(f"- {FACT}")
    raise AssertionError(f"unexpected request: {body}")


async def test_every_function_type_forms_from_text_answers(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    with FakeAnthropic([respond_in_text] * 8) as fake:
        env = {"ANTHROPIC_API_KEY": "sk-test", "LANGMEM_MCP_ANTHROPIC_BASE_URL": fake.url}
        async with memory_session(tmp_path, **env) as s:
            profile = (await call(s, "manage_memory_function", type="user_state", schema=PROFILE))["id"]
            events = (await call(s, "manage_memory_function", type="user_append_state", schema=EVENT))["id"]
            summary = (await call(s, "manage_memory_function", type="thread_summary", schema=SUMMARY))["id"]
            said = {"role": "user", "content": "Steph Curry is amazing!", "metadata": {"user_id": uid}}
            tid = (await call(s, "add_messages", messages=[said]))["thread_id"]

            report = await call(s, "trigger_formation", thread_id=tid)
            assert {r["status"] for r in report["runs"]} == {"formed"} and len(report["runs"]) == 4, report
            assert len(fake.requests) == 4  # every text answer was read the first time

            q = await call(
                s,
                "query_user_memory",
                user_id=uid,
                text="favorite basketball player",
                states_to_return=[profile],
                thread_summaries=[summary],
            )
            assert [(m["text"], m["scores"]["importance"]) for m in q["memories"]] == [(FACT, 0.5)]
            assert q["state"][0]["state"] == {"name": "Will", "interests": ["basketball"]}
            written = q["thread_summaries"][0]["summary"]
            assert written["title"] == "Will loves basketball" and "basketball" in written["topics"]
            appended = await read_json(s, f"langmem://users/{uid}/memory/{events}")
            assert appended["state"] == [
                {"event": "Watched Steph Curry play", "impact": "Took up basketball"}
            ]


async def test_a_failing_model_is_reported_and_retried(tmp_path: Path) -> None:
    """A model error fails only that function's run; its messages stay unprocessed for a retry."""
    uid = str(uuid.uuid4())
    with FakeAnthropic() as fake:  # nothing scripted: every call answers 500
        env = {
            "ANTHROPIC_API_KEY": "sk-test",
            "LANGMEM_MCP_ANTHROPIC_BASE_URL": fake.url,
            "LANGMEM_MCP_LLM_MAX_RETRIES": "0",
        }
        async with memory_session(tmp_path, **env) as s:
            tid = (
                await call(
                    s,
                    "add_messages",
                    messages=[{"role": "user", "content": "I live in Porto", "metadata": {"user_id": uid}}],
                )
            )["thread_id"]
            report = await call(s, "trigger_formation", thread_id=tid)
            assert [r["status"] for r in report["runs"]] == ["error"]
            assert report["runs"][0]["detail"]
            assert (await read_json(s, f"langmem://threads/{tid}"))["pending_formation"] is True
            fake.add(tools(("insert_memory", {"content": "Lives in Porto", "importance": 0.6}), ("done", {})))
            retried = await call(s, "trigger_formation", thread_id=tid)
            assert retried["memories_formed"] == 1, retried
            q = await call(s, "query_user_memory", user_id=uid, text="where does the user live")
            assert [m["text"] for m in q["memories"]] == ["Lives in Porto"]
