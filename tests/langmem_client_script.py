"""Flows run by the real `langmem==0.0.3` client against our REST API.

Runs in the client's own virtualenv (it pins httpx<0.27), so it imports nothing from this
project. `python langmem_client_script.py FLOW` with LANGMEM_API_URL set; exits non-zero (with
a traceback) when a check fails and prints `ok FLOW` when all pass.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from typing import Any

import httpx
from langmem import AsyncClient, Client
from pydantic import BaseModel, Field

QUESTION = "Do you remember who my favorite basketball player is?"
CURRY = "Yeah, Steph Curry is amazing!"


def readme_messages(user_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Hi, I love playing basketball!", "metadata": {"user_id": user_id}},
        {
            "role": "assistant",
            "content": "That's great! Basketball is a fun sport. Do you have a favorite player?",
        },
        {"role": "user", "content": CURRY, "metadata": {"user_id": user_id}},
    ]


def expect_status(exc: BaseException, status: int, words: str = "") -> None:
    text = str(exc)
    assert f"'{status} " in text or f" {status} " in text, f"expected HTTP {status}, got: {text}"
    assert words.lower() in text.lower(), f"expected {words!r} in: {text}"


def raises(_code: int, _words: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):  # generators (list_* methods) run lazily
            list(result)
    except httpx.HTTPError as exc:
        expect_status(exc, _code, _words)
        return
    raise AssertionError(f"{getattr(fn, '__name__', fn)} should have failed with {_code}")


# -- the seed README, exactly as written (AsyncClient) -----------------------------------------
async def readme_async() -> None:
    client = AsyncClient()
    user_id = str(uuid.uuid4())
    thread_id = str(uuid.uuid4())
    await client.add_messages(thread_id=thread_id, messages=readme_messages(user_id))
    await client.trigger_all_for_thread(thread_id=thread_id)
    memories = await client.query_user_memory(user_id=user_id, text=QUESTION)
    facts = [mem["text"] for mem in memories["memories"]]
    assert CURRY in facts, facts
    assert facts.index(CURRY) <= 1, facts
    top = memories["memories"][0]
    assert set(top) >= {"text", "id", "memory_function_id", "created_at", "scores"}, top
    assert set(top["scores"]) == {"relevance", "recency", "importance"}, top
    assert memories["state"] == [] and memories["thread_summaries"] == []

    # Idempotent: triggering again forms nothing, and the query sees the same memories.
    again = await client.trigger_all_for_thread(thread_id)
    assert again["memories_formed"] == 0, again
    # Re-posting the same messages with timestamps is deduplicated per thread.
    stamped = readme_messages(user_id)
    for m in stamped:
        m.setdefault("metadata", {})["timestamp"] = "2024-05-01T10:00:00Z"
    first = await client.add_messages(thread_id, messages=stamped)
    second = await client.add_messages(thread_id, messages=stamped)
    assert first["added"] == 3 and second["added"] == 0 and second["duplicates"] == 3, (first, second)
    formed = await client.trigger_all_for_thread(thread_id)
    assert formed["memories_formed"] == 0, formed  # the same texts are already memories
    again = await client.query_user_memory(user_id, QUESTION, k=10)
    assert sorted(m["text"] for m in again["memories"]) == sorted(facts), again

    # Weights: relevance only.
    only = await client.query_user_memory(
        user_id, QUESTION, k=1, weights={"relevance": 1.0, "recency": 0.0, "importance": 0.0}
    )
    assert len(only["memories"]) == 1

    # The user appeared through the messages; the thread is listed.
    user = await client.get_user(user_id)
    assert user["id"] == user_id
    thread = await client.get_thread(thread_id)
    assert thread["id"] == thread_id and thread["message_count"] == 6, thread
    assert any(t["id"] == thread_id for t in await client.list_threads())
    by_user = await client.trigger_all_for_user(user_id)
    assert by_user["memories_formed"] == 0 and thread_id in by_user["thread_ids"], by_user
    memory = await client.list_user_memory(user_id)
    semantic = [m for m in memory if m["type"] == "user_semantic_memory"]
    assert semantic and CURRY in [s["text"] for s in semantic[0]["state"]], memory
    await client.client.aclose()


def readme() -> None:
    asyncio.run(readme_async())


# -- memory functions ----------------------------------------------------------------------------
class UserProfile(BaseModel):
    name: str = Field(description="The user's name")
    age: int = Field(description="The user's age")
    interests: list[str] = Field(description="The user's interests")
    relationships: dict[str, str] = Field(
        description="The user's friends, family, pets,and other relationships."
    )


class FormativeEvent(BaseModel):
    event: str = Field(description="The formative event that occurred.")
    impact: str = Field(description="How this event impacted the user.")


def functions() -> None:
    client = Client()
    fn = client.create_memory_function(UserProfile, target_type="user_state", name="User Profile")
    assert fn["type"] == "user_state" and fn["name"] == "User Profile" and fn["status"] == "active", fn
    assert fn["schema"]["parameters"]["properties"]["age"]["type"] == "integer", fn
    got = client.get_memory_function(fn["id"])
    assert got["id"] == fn["id"] and got["schema"] == fn["schema"], got

    events = client.create_memory_function(FormativeEvent, target_type="user_append_state")
    assert events["name"] == "FormativeEvent", events
    states = list(client.list_memory_functions(target_type="user_state"))
    assert [f["id"] for f in states] == [fn["id"]], states
    user_fns = {f["type"] for f in client.list_memory_functions(target_type="user")}
    assert user_fns == {"user_state", "user_append_state", "user_semantic_memory"}, user_fns
    everything = list(client.list_memory_functions())
    assert len(everything) == 3 and sum(f["default"] for f in everything) == 1, everything

    disabled = client.update_memory_function(fn["id"], status="disabled")
    assert disabled["status"] == "disabled"
    assert client.get_memory_function(fn["id"])["status"] == "disabled"
    renamed = client.update_memory_function(
        fn["id"], name="Profile", custom_instructions="Only durable facts.", schema=FormativeEvent
    )
    assert renamed["name"] == "Profile" and renamed["custom_instructions"] == "Only durable facts."
    assert set(renamed["schema"]["parameters"]["properties"]) == {"event", "impact"}, renamed

    raises(
        422,
        "not a valid JSON schema",
        client.create_memory_function,
        {"type": "object", "properties": {"a": {"type": 12}}},
    )
    raises(422, "type must be one of", client.create_memory_function, UserProfile, target_type="user_mood")
    raises(422, "status must be", client.update_memory_function, fn["id"], status="paused")

    assert client.delete_memory_function(fn["id"])["deleted"] is True
    raises(404, "no memory function", client.get_memory_function, fn["id"])
    raises(404, "no memory function", client.delete_memory_function, fn["id"])
    default = [f for f in everything if f["default"]][0]
    raises(409, "cannot be deleted", client.delete_memory_function, default["id"])

    # The async client sends the new schema as "function".
    async def async_update() -> None:
        aclient = AsyncClient()
        updated = await aclient.update_memory_function(
            events["id"],
            schema={"title": "Event", "type": "object", "properties": {"what": {"type": "string"}}},
        )
        assert set(updated["schema"]["parameters"]["properties"]) == {"what"}, updated
        listed = [f async for f in aclient.list_memory_functions(target_type=["user_append_state"])]
        assert [f["id"] for f in listed] == [events["id"]]
        await aclient.client.aclose()

    asyncio.run(async_update())


# -- messages -------------------------------------------------------------------------------------
def messages() -> None:
    client = Client()
    user_id = str(uuid.uuid4())
    thread = client.create_thread(thread_id=str(uuid.uuid4()), metadata={"channel": "web"})
    assert thread["metadata"] == {"channel": "web"} and thread["message_count"] == 0, thread
    tid = thread["id"]
    batch = [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"message number {i}",
            "name": "Ana" if i % 2 == 0 else None,
            "metadata": {"user_id": user_id, "timestamp": f"2024-03-01T10:{i:02d}:00+00:00"}
            if i % 2 == 0
            else {"timestamp": f"2024-03-01T10:{i:02d}:00+00:00"},
        }
        for i in range(25)
    ]
    for m in batch:
        if m["name"] is None:
            del m["name"]
    client.add_messages(tid, messages=batch[:10])
    client.add_messages(tid, messages=batch)  # the first 10 again: stored once
    assert client.get_thread(tid)["message_count"] == 25

    listed = list(client.list_messages(tid, page_size=10))
    assert [m["content"] for m in listed] == [f"message number {i}" for i in range(25)], listed
    first = listed[0]
    assert first["role"] == "user" and first["name"] == "Ana", first
    assert first["metadata"]["user_id"] == user_id and first["metadata"]["timestamp"].startswith(
        "2024-03-01T10:00:00"
    )

    limited = list(client.list_messages(tid, page_size=4, limit=7))
    assert [m["content"] for m in limited] == [f"message number {i}" for i in range(7)], limited

    newest = list(client.list_messages(tid, ascending_order=False, page_size=7, limit=3))
    assert [m["content"] for m in newest] == ["message number 24", "message number 23", "message number 22"]

    native = list(client.list_messages(tid, response_format="langmem", limit=2))
    assert set(native[0]) >= {"id", "content", "timestamp", "user"}, native
    assert native[0]["user"] == {"role": "user", "user_id": user_id, "user_name": "Ana"}, native
    assert native[1]["user"] == {"role": "assistant"}, native

    # LangMem-format messages are accepted too.
    client.add_messages(
        tid,
        messages=[
            {
                "id": str(uuid.uuid4()),
                "content": "in the native format",
                "timestamp": "2024-03-01T11:00:00Z",
                "user": {"user_id": user_id, "user_name": "Ana", "role": "user"},
            }
        ],
    )
    assert (
        list(client.list_messages(tid, ascending_order=False, limit=1))[0]["content"]
        == "in the native format"
    )

    raises(422, "response_format", client.list_messages, tid, response_format="xml")
    raises(422, "page_size", client.list_messages, tid, page_size=0)
    raises(409, "already exists", client.create_thread, thread_id=tid)


# -- thread state ----------------------------------------------------------------------------------
def thread_state() -> None:
    client = Client()
    tid = str(uuid.uuid4())
    client.add_messages(tid, messages=[{"role": "user", "content": "hello"}])
    assert client.get_thread_state(tid)["state"] is None
    client.add_thread_state(tid, {"step": 1, "topic": "onboarding"})
    client.add_thread_state(tid, {"draft": "Dear Ana"}, key="email")
    assert client.get_thread_state(tid)["state"] == {"step": 1, "topic": "onboarding"}
    assert client.get_thread_state(tid, key="email")["state"] == {"draft": "Dear Ana"}
    client.add_thread_state(tid, {"step": 2})
    assert client.get_thread_state(tid)["state"] == {"step": 2}
    assert client.get_thread_state(tid, key="other")["state"] is None
    raises(404, "no thread", client.add_thread_state, str(uuid.uuid4()), {"a": 1})


# -- users -----------------------------------------------------------------------------------------
def users() -> None:
    client = Client()
    uid = str(uuid.uuid4())
    user = client.create_user(user_id=uid, name="Will", tags=["beta"], metadata={"plan": "pro"})
    assert user["id"] == uid and user["name"] == "Will" and user["tags"] == ["beta"], user
    assert user["metadata"] == {"plan": "pro"}
    assert client.get_user(uid)["name"] == "Will"
    updated = client.update_user(uid, name="William", metadata={"plan": "team"})
    assert (
        updated["name"] == "William"
        and updated["tags"] == ["beta"]
        and updated["metadata"] == {"plan": "team"}
    )
    other = str(uuid.uuid4())
    client.create_user(user_id=other, name="Ana")
    assert [u["id"] for u in client.list_users(name=["William"])] == [uid]
    assert {u["id"] for u in client.list_users(id=[uid, other])} == {uid, other}
    assert {u["id"] for u in client.list_users(name=["William", "Ana"])} == {uid, other}
    assert len(client.list_users()) >= 2
    raises(409, "already exists", client.create_user, user_id=uid, name="Again")
    raises(404, "no user", client.get_user, str(uuid.uuid4()))
    raises(404, "no user", client.update_user, str(uuid.uuid4()), name="x")


# -- user memory -----------------------------------------------------------------------------------
def user_memory() -> None:
    client = Client()
    uid = str(uuid.uuid4())
    client.create_user(user_id=uid, name="Will")
    fn = client.create_memory_function(UserProfile, target_type="user_state", name="Profile")
    empty = client.get_user_memory(uid, memory_function_id=fn["id"])
    assert empty["state"] == {} and empty["status"] == "needs_llm", empty  # no LLM configured here
    assert "ANTHROPIC_API_KEY" in empty["detail"]
    profile = {"name": "Will", "age": 30, "interests": ["pikas"], "relationships": {"Ana": "sister"}}
    client.update_user_memory(uid, memory_function_id=fn["id"], state=profile)
    got = client.get_user_memory(uid, memory_function_id=fn["id"])
    assert got["state"] == profile and got["memory_function_id"] == fn["id"], got
    raises(
        422,
        "does not follow",
        client.update_user_memory,
        uid,
        memory_function_id=fn["id"],
        state={"age": "old"},
    )
    listed = client.list_user_memory(uid) if hasattr(client, "list_user_memory") else None
    if listed is not None:
        assert any(m["memory_function_id"] == fn["id"] for m in listed)
    client.delete_user_memory(user_id=uid, memory_function_id=fn["id"])
    assert client.get_user_memory(uid, memory_function_id=fn["id"])["state"] == {}

    # A user_state function's state comes back with a query, too.
    client.update_user_memory(uid, memory_function_id=fn["id"], state={"name": "Will"})
    result = client.query_user_memory(uid, "anything", states_to_return=[fn["id"]])
    assert result["state"][0]["state"] == {"name": "Will"}, result

    # Semantic memories can be replaced and deleted the same way.
    default = [f for f in client.list_memory_functions(target_type="user_semantic_memory") if f["default"]][0]
    client.update_user_memory(
        uid,
        memory_function_id=default["id"],
        state=["Will keeps two pikas", {"text": "Will lives in Oslo", "importance": 0.9}],
    )
    hits = client.query_user_memory(uid, "pets", k=5)["memories"]
    assert {h["text"] for h in hits} == {"Will keeps two pikas", "Will lives in Oslo"}, hits
    oslo = [h for h in hits if "Oslo" in h["text"]][0]
    assert oslo["scores"]["importance"] == 0.9, oslo
    deleted = client.delete_user_memory(user_id=uid, memory_function_id=default["id"])
    assert deleted["deleted"] == 2, deleted
    assert client.query_user_memory(uid, "pets")["memories"] == []

    summary = client.create_memory_function(
        {"title": "Summary", "type": "object", "properties": {"summary": {"type": "string"}}},
        target_type="thread_summary",
    )
    tid = str(uuid.uuid4())
    client.add_messages(
        tid, messages=[{"role": "user", "content": "I adopted a cat", "metadata": {"user_id": uid}}]
    )
    report = client.trigger_all_for_thread(tid)
    kinds = {r["type"]: r["status"] for r in report["runs"]}
    assert kinds["thread_summary"] == "needs_llm" and kinds["user_state"] == "needs_llm", report
    assert kinds["user_semantic_memory"] == "formed", report
    thread_mem = client.list_thread_memory(tid)
    assert [m["memory_function_id"] for m in thread_mem] == [summary["id"]], thread_mem
    one = client.get_thread_memory(tid, memory_function_id=summary["id"])
    assert one["status"] == "needs_llm" and one["state"] == {}, one
    raises(422, "keeps memory of users", client.get_thread_memory, tid, memory_function_id=default["id"])
    raises(422, "keeps memory of threads", client.get_user_memory, uid, memory_function_id=summary["id"])
    client.delete_memory_function(summary["id"])
    client.delete_memory_function(fn["id"])


# -- errors ----------------------------------------------------------------------------------------
def errors() -> None:
    client = Client()
    unknown = str(uuid.uuid4())
    raises(404, "no user", client.get_user, unknown)
    raises(404, "no user", client.query_user_memory, unknown, "hello")
    raises(404, "no user", client.trigger_all_for_user, unknown)
    raises(404, "no thread", client.get_thread, unknown)
    raises(404, "no thread", client.trigger_all_for_thread, unknown)
    raises(404, "no thread", client.list_messages, unknown)
    raises(404, "no thread", client.list_thread_memory, unknown)
    raises(404, "no memory function", client.get_memory_function, unknown)
    uid = str(uuid.uuid4())
    client.create_user(user_id=uid, name="E")
    raises(404, "no memory function", client.get_user_memory, uid, memory_function_id=unknown)
    raises(404, "no memory function", client.query_user_memory, uid, "x", memory_function_ids=[unknown])

    raw = client.client  # the client's own httpx session, for bodies the client would not send
    tid = str(uuid.uuid4())
    for path, body, words in [
        (f"/threads/{tid}/add_messages", '{"messages": "hello"}', "messages must be a list"),
        (f"/threads/{tid}/add_messages", '{"messages": [{"content": "no role"}]}', "role is required"),
        (
            f"/threads/{tid}/add_messages",
            '{"messages": [{"role": "user", "content": "x", "metadata": {"timestamp": "yesterday"}}]}',
            "ISO 8601",
        ),
        (f"/threads/{tid}/add_messages", "{not json", "not valid JSON"),
        (f"/threads/{tid}/add_messages", '{"msgs": []}', "unknown field"),
        (f"/users/{uid}/memory/query", '{"text": "x", "k": "many"}', "k must be"),
        (f"/users/{uid}/memory/query", '{"text": "x", "weights": {"fun": 1}}', "unknown weights"),
        (f"/users/{uid}/memory/query", '{"k": 3}', "missing required field"),
        (
            "/memory-functions",
            '{"type": "user_state", "schema": {"name": "x", "parameters": {"type": "string"}}}',
            "must describe an object",
        ),
        ("/users", '{"id": "a/b", "name": "x"}', "not usable"),
    ]:
        response = raw.post(path, content=body)
        assert response.status_code == 422, (path, body, response.status_code, response.text)
        assert words.lower() in response.json()["detail"].lower(), (words, response.text)
    assert raw.get(f"/threads/{tid}").status_code == 404  # nothing was created by the bad calls


# -- scopes (the x-api-key carries the caller's namespace prefix in the test server) ----------
def scopes() -> None:
    url = os.environ["LANGMEM_API_URL"]
    team_a = Client(api_url=url, api_key="scope:team-a")
    team_b = Client(api_url=url, api_key="scope:team-b")
    root = Client(api_url=url)
    uid, tid = str(uuid.uuid4()), str(uuid.uuid4())
    team_a.add_messages(tid, messages=readme_messages(uid))
    team_a.trigger_all_for_thread(tid)
    assert CURRY in [m["text"] for m in team_a.query_user_memory(uid, QUESTION)["memories"]]
    for other in (team_b, root):
        raises(404, "no user", other.get_user, uid)
        raises(404, "no user", other.query_user_memory, uid, QUESTION)
        raises(404, "no thread", other.get_thread, tid)
        raises(404, "no thread", other.trigger_all_for_thread, tid)
        assert all(t["id"] != tid for t in other.list_threads())
    # team B may use the same ids for its own, separate user and thread
    team_b.add_messages(
        tid, messages=[{"role": "user", "content": "I prefer tea", "metadata": {"user_id": uid}}]
    )
    team_b.trigger_all_for_thread(tid)
    assert [m["text"] for m in team_b.query_user_memory(uid, "drinks")["memories"]] == ["I prefer tea"]
    assert "I prefer tea" not in [m["text"] for m in team_a.query_user_memory(uid, "tea")["memories"]]


# -- background formation ---------------------------------------------------------------------------
def background() -> None:
    client = Client()
    uid, tid = str(uuid.uuid4()), str(uuid.uuid4())
    client.add_messages(tid, messages=readme_messages(uid))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        texts = [m["text"] for m in client.query_user_memory(uid, QUESTION)["memories"]]
        # memories show as soon as they are written; the thread is marked formed right after
        if CURRY in texts and client.get_thread(tid)["pending_formation"] is False:
            assert client.trigger_all_for_thread(tid)["memories_formed"] == 0
            return
        time.sleep(0.2)
    raise AssertionError("memory did not form in the background")


FLOWS = {
    f.__name__: f
    for f in (readme, functions, messages, thread_state, users, user_memory, errors, scopes, background)
}

#: Flows that run in the root scope (no key); the others each get a scope of their own, so they
#: neither see nor disturb each other's memory functions.
ROOT_FLOWS = {"readme", "scopes", "background"}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(FLOWS):
        if name in ROOT_FLOWS:
            os.environ.pop("LANGMEM_API_KEY", None)
        else:
            os.environ["LANGMEM_API_KEY"] = f"scope:{name}-{uuid.uuid4().hex[:8]}"
        FLOWS[name]()
        print(f"ok {name}")
