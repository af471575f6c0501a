"""The LangMem service model through MCP tools and resources, in a real stdio session."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp_client import call, call_error, memory_session, read_json

QUESTION = "Do you remember who my favorite basketball player is?"
CURRY = "Yeah, Steph Curry is amazing!"
NO_LLM = {"ANTHROPIC_API_KEY": "", "LANGMEM_MCP_ANTHROPIC_API_KEY": ""}
PROFILE = {
    "title": "UserProfile",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The user's name"},
        "age": {"type": "integer", "description": "The user's age"},
        "interests": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "interests"],
}


def readme_messages(user_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Hi, I love playing basketball!", "metadata": {"user_id": user_id}},
        {
            "role": "assistant",
            "content": "That's great! Basketball is a fun sport. Do you have a favorite player?",
        },
        {"role": "user", "content": CURRY, "metadata": {"user_id": user_id}},
    ]


async def test_tools_and_resources_are_listed(tmp_path: Path) -> None:
    async with memory_session(tmp_path, **NO_LLM) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        service = {
            "add_messages",
            "trigger_formation",
            "query_user_memory",
            "manage_user",
            "manage_memory_function",
            "manage_user_memory",
            "set_thread_state",
        }
        assert service <= set(tools)
        assert tools["query_user_memory"].annotations.read_only_hint is True
        assert tools["manage_memory_function"].annotations.destructive_hint is True
        assert tools["query_user_memory"].output_schema is not None
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert {
            "langmem://users{?cursor,limit}",
            "langmem://users/{user_id}/memory/{memory_function_id}",
            "langmem://threads/{thread_id}/messages{?cursor,page_size,ascending_order,response_format}",
            "langmem://threads/{thread_id}/state{?key}",
            "langmem://memory-functions{?target_type,cursor}",
        } <= templates


async def test_readme_flow_and_idempotent_formation(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    async with memory_session(tmp_path, **NO_LLM) as s:
        added = await call(s, "add_messages", messages=readme_messages(uid))
        tid = added["thread_id"]
        assert added["added"] == 3 and added["duplicates"] == 0
        report = await call(s, "trigger_formation", thread_id=tid)
        assert report["memories_formed"] == 2, report
        assert [r["status"] for r in report["runs"]] == ["formed"]

        result = await call(s, "query_user_memory", user_id=uid, text=QUESTION)
        texts = [m["text"] for m in result["memories"]]
        assert CURRY in texts[:2], texts
        assert set(result["memories"][0]["scores"]) == {"relevance", "recency", "importance"}

        # The same memories are reachable through the core tools, in the user's namespace.
        hits = (await call(s, "search_memory", query="favorite basketball player", namespace=["users", uid]))[
            "memories"
        ]
        assert CURRY in [h["content"] for h in hits]

        again = await call(s, "trigger_formation", thread_id=tid)
        assert again["memories_formed"] == 0 and [r["status"] for r in again["runs"]] == ["up_to_date"]
        by_user = await call(s, "trigger_formation", user_id=uid)
        assert by_user["memories_formed"] == 0 and by_user["thread_ids"] == [tid]
        more = await call(
            s,
            "add_messages",
            thread_id=tid,
            messages=[
                {"role": "user", "content": "I also follow Klay Thompson.", "metadata": {"user_id": uid}}
            ],
        )
        assert more["added"] == 1
        assert (await call(s, "trigger_formation", thread_id=tid))["memories_formed"] == 1

        thread = await read_json(s, f"langmem://threads/{tid}")
        assert thread["message_count"] == 4 and thread["pending_formation"] is False
        user_memory = await read_json(s, f"langmem://users/{uid}/memory")
        semantic = [m for m in user_memory if m["type"] == "user_semantic_memory"][0]
        assert semantic["count"] == 3 and semantic["status"] == "ok"
        assert "give exactly one of thread_id or user_id" in await call_error(s, "trigger_formation")


async def test_memory_functions(tmp_path: Path) -> None:
    async with memory_session(tmp_path, **NO_LLM) as s:
        made = await call(s, "manage_memory_function", type="user_state", schema=PROFILE, name="Profile")
        fid = made["id"]
        fn = made["memory_function"]
        assert fn["type"] == "user_state" and fn["name"] == "Profile" and fn["status"] == "active"
        assert fn["schema"]["parameters"]["properties"]["age"] == {
            "type": "integer",
            "description": "The user's age",
        }
        assert (await read_json(s, f"langmem://memory-functions/{fid}"))["id"] == fid

        states = await read_json(s, "langmem://memory-functions?target_type=user_state")
        assert [f["id"] for f in states["memory_functions"]] == [fid]
        users = await read_json(s, "langmem://memory-functions?target_type=user")
        assert {f["type"] for f in users["memory_functions"]} == {"user_state", "user_semantic_memory"}

        updated = await call(s, "manage_memory_function", action="update", id=fid, status="disabled")
        assert updated["memory_function"]["status"] == "disabled"
        bad = await call_error(
            s,
            "manage_memory_function",
            type="user_state",
            schema={"type": "object", "properties": {"a": {"type": 3}}},
        )
        assert "not a valid JSON schema" in bad
        assert "must describe an object" in await call_error(
            s, "manage_memory_function", type="user_append_state", schema={"type": "string"}
        )
        gone = await call(s, "manage_memory_function", action="delete", id=fid)
        assert gone["action"] == "deleted"
        with pytest.raises(MCPError):
            await read_json(s, f"langmem://memory-functions/{fid}")
        assert "no memory function" in await call_error(s, "manage_memory_function", action="delete", id=fid)


async def test_disabled_functions_do_not_run(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    async with memory_session(tmp_path, **NO_LLM) as s:
        default = (await read_json(s, "langmem://memory-functions?target_type=user_semantic_memory"))[
            "memory_functions"
        ]
        assert len(default) == 1 and default[0]["default"] is True
        await call(s, "manage_memory_function", action="update", id=default[0]["id"], status="disabled")
        tid = (await call(s, "add_messages", messages=readme_messages(uid)))["thread_id"]
        report = await call(s, "trigger_formation", thread_id=tid)
        assert report == {"thread_ids": [tid], "memories_formed": 0, "runs": []}
        assert (await call(s, "query_user_memory", user_id=uid, text=QUESTION))["memories"] == []
        state = await read_json(s, f"langmem://users/{uid}/memory/{default[0]['id']}")
        assert state["status"] == "disabled"
        # enabled again, the messages not yet processed form
        await call(s, "manage_memory_function", action="update", id=default[0]["id"], status="active")
        assert (await call(s, "trigger_formation", thread_id=tid))["memories_formed"] == 2


async def test_messages_state_users_and_user_memory(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    async with memory_session(tmp_path, **NO_LLM) as s:
        batch = [
            {
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"turn {i}",
                "metadata": {
                    "timestamp": f"2024-01-01T00:00:{i:02d}Z",
                    **({"user_id": uid} if i % 2 == 0 else {}),
                },
            }
            for i in range(12)
        ]
        tid = (await call(s, "add_messages", messages=batch, thread_metadata={"app": "test"}))["thread_id"]
        again = await call(s, "add_messages", thread_id=tid, messages=batch)
        assert again["added"] == 0 and again["duplicates"] == 12

        seen, uri = [], f"langmem://threads/{tid}/messages?page_size=5"
        while uri:
            page = await read_json(s, uri)
            assert len(page["messages"]) <= 5
            seen += [m["content"] for m in page["messages"]]
            uri = page.get("next_uri")
        assert seen == [f"turn {i}" for i in range(12)]
        newest = await read_json(
            s, f"langmem://threads/{tid}/messages?page_size=2&ascending_order=false&response_format=langmem"
        )
        assert [m["content"] for m in newest["messages"]] == ["turn 11", "turn 10"]
        assert newest["messages"][1]["user"] == {"role": "user", "user_id": uid}
        threads = await read_json(s, "langmem://threads")
        assert threads["threads"][0]["metadata"] == {"app": "test"}

        await call(s, "set_thread_state", thread_id=tid, state={"step": 1})
        await call(s, "set_thread_state", thread_id=tid, state={"mood": "good"}, key="mood")
        assert (await read_json(s, f"langmem://threads/{tid}/state"))["state"] == {"step": 1}
        assert (await read_json(s, f"langmem://threads/{tid}/state?key=mood"))["state"] == {"mood": "good"}
        assert (await read_json(s, f"langmem://threads/{tid}/state?key=none"))["state"] is None

        # users: the one from the messages, and one made by hand
        assert (await read_json(s, f"langmem://users/{uid}"))["id"] == uid
        made = await call(s, "manage_user", name="Ana", tags=["vip"], metadata={"tier": 1})
        renamed = await call(s, "manage_user", action="update", user_id=made["id"], name="Ana B.")
        assert (
            renamed["name"] == "Ana B." and renamed["tags"] == ["vip"] and renamed["metadata"] == {"tier": 1}
        )
        listed = await read_json(s, "langmem://users?limit=1")
        assert len(listed["users"]) == 1 and listed["next_uri"]
        rest = await read_json(s, listed["next_uri"])
        assert {u["id"] for u in listed["users"] + rest["users"]} == {uid, made["id"]}
        assert "already exists" in await call_error(s, "manage_user", user_id=made["id"])

        # user memory: a user_state profile set by hand, then forgotten
        fid = (await call(s, "manage_memory_function", type="user_state", schema=PROFILE))["id"]
        state = await read_json(s, f"langmem://users/{uid}/memory/{fid}")
        assert (
            state["state"] == {} and state["status"] == "needs_llm" and "ANTHROPIC_API_KEY" in state["detail"]
        )
        profile = {"name": "Bo", "age": 41, "interests": ["chess"]}
        changed = await call(s, "manage_user_memory", user_id=uid, memory_function_id=fid, state=profile)
        assert changed["memory"]["state"] == profile
        assert (await read_json(s, f"langmem://users/{uid}/memory/{fid}"))["state"] == profile
        assert "does not follow" in await call_error(
            s, "manage_user_memory", user_id=uid, memory_function_id=fid, state={"age": "forty"}
        )
        q = await call(s, "query_user_memory", user_id=uid, text="chess", states_to_return=[fid])
        assert q["state"][0]["state"] == profile
        forgotten = await call(s, "manage_user_memory", user_id=uid, memory_function_id=fid, action="delete")
        assert forgotten["deleted"] == 1
        assert (await read_json(s, f"langmem://users/{uid}/memory/{fid}"))["state"] == {}
        report = await call(s, "trigger_formation", thread_id=tid)
        statuses = {r["type"]: r["status"] for r in report["runs"]}
        assert statuses == {"user_semantic_memory": "formed", "user_state": "needs_llm"}


async def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    unknown = str(uuid.uuid4())
    async with memory_session(tmp_path, **NO_LLM) as s:
        assert f"no user with id {unknown!r}" in await call_error(
            s, "query_user_memory", user_id=unknown, text="x"
        )
        assert "no thread" in await call_error(s, "trigger_formation", thread_id=unknown)
        assert "no thread" in await call_error(s, "set_thread_state", thread_id=unknown, state={"a": 1})
        assert "role is required" in await call_error(s, "add_messages", messages=[{"content": "hi"}])
        assert "at least one message" in await call_error(s, "add_messages", messages=[])
        uid = (await call(s, "manage_user", name="X"))["id"]
        assert "unknown weights" in await call_error(
            s, "query_user_memory", user_id=uid, text="x", weights={"fun": 1.0}
        )
        assert "no memory function" in await call_error(
            s, "manage_user_memory", user_id=uid, memory_function_id=unknown, state={"a": 1}
        )
        for uri in (
            f"langmem://users/{unknown}",
            f"langmem://threads/{unknown}/messages",
            f"langmem://threads/{unknown}",
        ):
            with pytest.raises(MCPError) as err:
                await read_json(s, uri)
            assert "no " in str(err.value)


async def test_background_formation_after_a_quiet_delay(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    async with memory_session(tmp_path, LANGMEM_MCP_FORMATION_DELAY_SECONDS="0.3", **NO_LLM) as s:
        tid = (await call(s, "add_messages", messages=readme_messages(uid)))["thread_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            texts = [
                m["text"]
                for m in (await call(s, "query_user_memory", user_id=uid, text=QUESTION))["memories"]
            ]
            # memories show as soon as they are written; the thread is marked formed right after
            if CURRY in texts and not (await read_json(s, f"langmem://threads/{tid}"))["pending_formation"]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("no memory formed in the background")
        assert (await call(s, "trigger_formation", thread_id=tid))["memories_formed"] == 0
