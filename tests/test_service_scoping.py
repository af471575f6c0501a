"""Service-level checks in-process: scopes (a caller limited to a namespace prefix works in a
world of its own) and concurrent triggers forming nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.errors import Forbidden, NotFound
from langmem_mcp.service import access, inputs
from langmem_mcp.service.container import Services, open_services

TEAM_A = access.Principal(prefix="team-a")
TEAM_B = access.Principal(prefix="team-b")


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Services]:
    async with open_services(
        Settings(data_dir=tmp_path, anthropic_api_key=None, formation_delay_seconds=3600)
    ) as services:
        yield services


def messages(uid: str) -> list[dict]:
    return [
        {"role": "user", "content": "My sister Ana lives in Lisbon", "metadata": {"user_id": uid}},
        {"role": "assistant", "content": "Nice!"},
    ]


async def test_a_scoped_caller_works_in_its_own_world(svc: Services) -> None:
    uid, tid = str(uuid.uuid4()), str(uuid.uuid4())
    with access.acting_as(TEAM_A):
        await svc.threads.add_messages(tid, inputs.messages(messages(uid)))
        report = await svc.formation.trigger_thread(tid)
        assert report.memories_formed == 1
        hits = await svc.memories.search("sister", ["team-a", "users", uid])
        assert [h.content for h in hits] == ["My sister Ana lives in Lisbon"]
        assert (
            (await svc.user_memory.query(uid, inputs.UserMemoryQuery(text="where does Ana live")))
            .memories[0]
            .text.startswith("My sister")
        )
        # the core refuses namespaces outside the prefix without looking
        with pytest.raises(Forbidden):
            await svc.memories.search("sister", ["users", uid])

    for principal in (TEAM_B, access.UNRESTRICTED):
        with access.acting_as(principal):
            with pytest.raises(NotFound, match="no user"):
                await svc.users.get(uid)
            with pytest.raises(NotFound, match="no user"):
                await svc.user_memory.query(uid, inputs.UserMemoryQuery(text="Ana"))
            with pytest.raises(NotFound, match="no thread"):
                await svc.threads.get(tid)
            with pytest.raises(NotFound, match="no thread"):
                await svc.threads.list_messages(tid)
            assert all(t.id != tid for t in (await svc.threads.list()).threads)
            assert all(u.id != uid for u in (await svc.users.list()).users)

    # each scope has its own default semantic memory function
    with access.acting_as(TEAM_A):
        a_default = [f for f in (await svc.functions.list()).memory_functions if f.default]
    with access.acting_as(TEAM_B):
        b_default = [f for f in (await svc.functions.list()).memory_functions if f.default]
        with pytest.raises(NotFound):
            await svc.functions.get(a_default[0].id)
    assert a_default[0].id != b_default[0].id

    # unrestricted, the same ids are free for a separate user and thread of the root scope
    await svc.threads.add_messages(
        tid, inputs.messages([{"role": "user", "content": "I have no sister", "metadata": {"user_id": uid}}])
    )
    await svc.formation.trigger_thread(tid)
    assert [
        m.text for m in (await svc.user_memory.query(uid, inputs.UserMemoryQuery(text="sister"))).memories
    ] == ["I have no sister"]
    hits = await svc.memories.search("sister", ["users", uid])
    assert [h.content for h in hits] == ["I have no sister"]


async def test_concurrent_triggers_form_once(svc: Services) -> None:
    uid = str(uuid.uuid4())
    added = await svc.threads.add_messages(
        None,
        inputs.messages(
            messages(uid) * 1
            + [
                {"role": "user", "content": f"fact number {i}", "metadata": {"user_id": uid}}
                for i in range(10)
            ]
        ),
    )
    reports = await asyncio.gather(*(svc.formation.trigger_thread(added.thread_id) for _ in range(4)))
    assert sum(r.memories_formed for r in reports) == 11
    by_user = await svc.formation.trigger_user(uid)
    assert by_user.memories_formed == 0
    state = await svc.user_memory.list_user_memory(uid)
    assert [s.count for s in state if s.type == "user_semantic_memory"] == [11]


async def test_deleting_a_function_deletes_what_it_formed(svc: Services) -> None:
    uid = str(uuid.uuid4())
    extra = await svc.functions.create(None, "user_semantic_memory", name="Second")
    tid = (await svc.threads.add_messages(None, inputs.messages(messages(uid)))).thread_id
    await svc.formation.trigger_thread(tid)
    # the same text is one memory (verbatim duplicates are not stored twice), of the first function
    before = await svc.user_memory.list_user_memory(uid)
    assert sorted(s.count for s in before if s.type == "user_semantic_memory") == [0, 1]
    await svc.user_memory.update_user_memory(uid, extra.id, ["Ana is a doctor"])
    gone = await svc.functions.delete(extra.id)
    assert gone.memories_deleted == 1
    texts = [m.text for m in (await svc.user_memory.query(uid, inputs.UserMemoryQuery(text="Ana"))).memories]
    assert texts == ["My sister Ana lives in Lisbon"]
