"""A write is acknowledged with its own text's vector, so it is found by meaning at once; the index
worker then adds the context of its conversation and the vector that mixes it in (for a bulk
write, once the worker is idle). Unrelated facts get no context at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from langmem_mcp.config import load_settings
from langmem_mcp.engine.context import split
from langmem_mcp.service.container import Services
from langmem_mcp.service.memories import BULK_WRITE, NewItem
from langmem_mcp.service.runtime import Runtime
from langmem_mcp.store.index_state import Indexed
from tests.indexing import wait_indexed


async def states(rt: Runtime) -> dict[int, int]:
    return {
        r[0]: r[1] for r in await rt.db.fetchall("SELECT indexed, COUNT(*) FROM memories GROUP BY indexed")
    }


async def kept_vector(rt: Runtime, memory_id: str) -> np.ndarray:
    blob = await rt.db.scalar("SELECT vector FROM memory_vectors WHERE id = ?", (memory_id,))
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


async def wait_upgraded(rt: Runtime) -> None:
    import asyncio

    for _ in range(600):  # the worker upgrades once writes stop (about 2 s), in batches
        if (await states(rt)).get(Indexed.UPGRADE, 0) == 0 and not await rt.memories.pending():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never upgraded: {await states(rt)}")


async def test_a_bulk_dialogue_is_searchable_at_once_and_gets_its_context_when_idle(tmp_path: Path) -> None:
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = Services.build(rt).memories
        n = BULK_WRITE * 2
        speakers = ("Ana", "Ben")
        items = [
            NewItem(f"{speakers[i % 2]}: note {i} about the lighthouse keeper's {i % 7} cats", ["bulk"])
            for i in range(n)
        ]
        items[17] = NewItem("Ben: my grandmother grew saffron in Kozani", ["bulk"])
        results = await svc.create_many(items)
        assert all(r.action == "created" for r in results)
        hits = await svc.search("Where did my grandmother grow spices?", ["bulk"], limit=3)
        assert hits[0].id == results[17].id  # on its own text's vector, before the worker ran
        await wait_upgraded(rt)
        assert await states(rt) == {Indexed.INDEXED: n}
        row = await rt.db.fetchone("SELECT context FROM memories WHERE id = ?", (results[17].id,))
        assert split(row[0]) == (
            [
                "Ben: note 15 about the lighthouse keeper's 1 cats",
                "Ana: note 16 about the lighthouse keeper's 2 cats",
            ],
            ["Ana: note 18 about the lighthouse keeper's 4 cats"],
        )
        index = await rt.index.get()
        own = index.embedder.embed([items[17].content])[0]
        assert float(own @ await kept_vector(rt, results[17].id)) < 0.99  # the window vector now
        hits = await svc.search("Where did my grandmother grow spices?", ["bulk"], limit=3)
        assert hits[0].id == results[17].id
    finally:
        await rt.close()


async def test_single_writes_are_acknowledged_with_their_own_vector(tmp_path: Path) -> None:
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = Services.build(rt).memories
        fact = await svc.create("The user prefers tabs over spaces", ["facts"])
        assert (await svc.search("indentation style", ["facts"], limit=1))[0].id == fact.id
        one = await svc.create("Ana: the lighthouse is in Finistère", ["talk"])
        two = await svc.create("Ben: and the lamp was lit every night until 1992", ["talk"])
        await wait_indexed(rt)
        assert await states(rt) == {Indexed.INDEXED: 3}
        contexts = dict(await rt.db.fetchall("SELECT id, context FROM memories"))
        assert split(contexts[fact.id]) == ([], [])  # a fact borrows nobody's words
        assert split(contexts[one.id]) == ([], ["Ben: and the lamp was lit every night until 1992"])
        assert split(contexts[two.id]) == (["Ana: the lighthouse is in Finistère"], [])
        index = await rt.index.get()
        own = index.embedder.embed(
            ["The user prefers tabs over spaces", "Ben: and the lamp was lit every night until 1992"]
        )
        assert float(own[0] @ await kept_vector(rt, fact.id)) > 0.999  # no context: its own vector
        assert float(own[1] @ await kept_vector(rt, two.id)) < 0.99  # mixed with the turn before
    finally:
        await rt.close()


async def test_a_start_after_a_large_import_answers_before_the_contexts_are_made(tmp_path: Path) -> None:
    """An import (240 turns of talk) left its rows with their own vectors and no context yet (the
    server stopped first). The next start makes no context vector before answering: its first
    search finds a row by meaning while the worker still has the rest to do, in the background."""
    from langmem_mcp.engine.context import ContextPolicy
    from langmem_mcp.index.embeddings import shared_embedder
    from langmem_mcp.store.memories import MemoryStore, NewMemory
    from langmem_mcp.store.sqlite import Database

    turns = [
        f"Speaker {'AB'[i % 2]}: turn {i} about the harbour, the tides and boat number {i}"
        for i in range(240)
    ]
    turns[120] = "Speaker A: my sister Ines grows saffron on a farm near Toledo"
    embedder = shared_embedder(load_settings(data_dir=tmp_path).embedder)
    vectors = embedder.embed(turns)
    db = await Database.open(tmp_path / "memory.sqlite3")
    try:
        rows = [NewMemory(f"turn-{i}", "memories", t, {}, 0.5) for i, t in enumerate(turns)]
        await MemoryStore(db, ContextPolicy().reach).insert_many(rows, list(vectors), bulk=True)
    finally:
        await db.close()

    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = Services.build(rt).memories
        hits = await svc.search("Which spice does Ines grow?", limit=1)
        assert [h.id for h in hits] == ["turn-120"]
        assert await rt.memories.pending() > 100  # the start did not make them: the worker does
        await wait_indexed(rt, timeout=120)
        assert (await states(rt)).get(Indexed.FRESH_BULK, 0) == 0
    finally:
        await rt.close()
