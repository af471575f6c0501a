"""Vectors kept beside their memories: exact search in small namespaces, Chroma for large ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from langmem_mcp.config import load_settings
from langmem_mcp.engine import filters
from langmem_mcp.service import memories as memories_module
from langmem_mcp.service.memories import MemoryService, NewItem
from langmem_mcp.service.runtime import Runtime
from tests.mcp_client import call, stdio_session

NOTES = [
    "Mira: I adopted a grey cat called Pixel from the shelter last spring",
    "Mira: my brother Tomas is training for the Berlin marathon",
    "Mira: we repainted the kitchen a pale olive green",
    "Mira: I am learning to play the cello, slowly",
    "Mira: the bakery on Rue Cler makes the best almond croissants",
    "Mira: my grandmother taught me to make plum dumplings",
    "Mira: I switched teams at work, now I do data engineering",
    "Mira: our flight to Lisbon leaves on the 14th of June",
    "Mira: I have been reading a lot of Ursula K. Le Guin lately",
    "Mira: the garden tomatoes got blight again this year",
    "Mira: I sprained my ankle bouldering on Tuesday",
    "Mira: Tomas and I are planning a canoe trip in Sweden",
]
QUESTIONS = [
    "What pet does Mira have?",
    "Which musical instrument is Mira learning?",
    "Where is Mira travelling in June?",
    "What sport is Mira's brother doing?",
    "What did Mira's grandmother cook?",
    "What happened to Mira's ankle?",
]


async def semantic_ids(
    svc: MemoryService, question: str, ns: list[str], where: str = "", params=()
) -> list[str]:
    return await svc._semantic(question, "/".join(ns), 10, where, list(params))


async def test_exact_and_index_paths_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = MemoryService(rt)
        for note in NOTES:
            await svc.create(note, ["mira"])
        assert await rt.db.scalar("SELECT COUNT(*) FROM memory_vectors WHERE namespace = 'mira'") == len(
            NOTES
        )
        exact = [await semantic_ids(svc, q, ["mira"]) for q in QUESTIONS]
        monkeypatch.setattr(memories_module, "EXACT_SEARCH_MAX", 0)  # every namespace through Chroma
        hnsw = [await semantic_ids(svc, q, ["mira"]) for q in QUESTIONS]
        for e, h in zip(exact, hnsw, strict=True):
            assert e[:3] == h[:3]
            assert set(e) == set(h)
        hits = await svc.search("Which musical instrument is Mira learning?", ["mira"], limit=1)
        assert "cello" in hits[0].content
    finally:
        await rt.close()


async def test_vectors_follow_their_memory(tmp_path: Path) -> None:
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = MemoryService(rt)
        made = await svc.create("Mira: I adopted a grey cat called Pixel", ["mira"], metadata={"kind": "pet"})
        other = await svc.create("Mira: I adopted a rescue greyhound", ["mira"], metadata={"kind": "note"})
        before = await rt.db.scalar("SELECT vector FROM memory_vectors WHERE id = ?", (made.id,))
        await svc.update(made.id, ["mira"], content="Mira: the cat Pixel learned to open doors")
        after = await rt.db.scalar("SELECT vector FROM memory_vectors WHERE id = ?", (made.id,))
        assert before and after and before != after
        # a metadata filter is applied while scoring, not after
        kinds = [
            await semantic_ids(
                svc, "Which pet did Mira adopt?", ["mira"], *filters.compile_filter({"kind": k})
            )
            for k in ("note", "pet")
        ]
        assert kinds == [[other.id], [made.id]]
        await svc.delete(made.id, ["mira"])
        assert await rt.db.scalar("SELECT COUNT(*) FROM memory_vectors WHERE namespace = 'mira'") == 1
        assert await rt.db.scalar("SELECT COUNT(*) FROM memory_vectors WHERE id = ?", (made.id,)) == 0
    finally:
        await rt.close()


async def test_vectors_are_copied_from_chroma_for_an_older_data_dir(tmp_path: Path) -> None:
    """A data dir from before the vectors were kept in SQLite gets them from Chroma, not the model."""
    settings = load_settings(data_dir=tmp_path)
    rt = await Runtime.open(settings)
    try:
        svc = MemoryService(rt)
        made = await svc.create_many([NewItem(n, ["mira"]) for n in NOTES])
        kept = {r[0]: r[1] for r in await rt.db.fetchall("SELECT id, vector FROM memory_vectors")}
        async with rt.db.transaction() as conn:
            await conn.execute("DELETE FROM memory_vectors")
            # one row the index never had: it must be re-embedded, not left unsearchable
            await conn.execute("UPDATE memories SET indexed = 1 WHERE id = ?", (made[0].id,))
        index = await rt.index()
        await asyncio.to_thread(index.delete, [made[0].id])
    finally:
        await rt.close()
    rt = await Runtime.open(settings)
    try:
        await rt.index()  # the owner's start copies what Chroma has and re-embeds the rest
        for _ in range(100):
            if await rt.db.scalar("SELECT COUNT(*) FROM memory_vectors") == len(NOTES):
                break
            await asyncio.sleep(0.2)
        now = {r[0]: r[1] for r in await rt.db.fetchall("SELECT id, vector FROM memory_vectors")}
        assert set(now) == set(kept)
        assert all(now[i] == kept[i] for i in now)
        hits = await MemoryService(rt).search("What is the name of the cat Mira adopted?", ["mira"], limit=1)
        assert "Pixel" in hits[0].content
    finally:
        await rt.close()


async def test_search_over_mcp_uses_the_kept_vectors(tmp_path: Path) -> None:
    async with stdio_session(tmp_path) as s:
        for note in NOTES:
            await call(s, "manage_memory", action="create", content=note, namespace=["mira"])
        got = await call(
            s, "search_memory", query="Which musical instrument is Mira learning?", namespace=["mira"]
        )
        assert "cello" in got["memories"][0]["content"]
        empty = await call(s, "search_memory", query="Pixel the cat", namespace=["nobody"])
        assert empty["memories"] == []


async def test_keyword_search_is_confined_to_its_namespace(tmp_path: Path) -> None:
    """FTS5 matches only the namespace's own rows (its ns_key token), for any namespace spelling."""
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = MemoryService(rt)
        spaces = [["équipe", "数据"], ["team", "a b"], ["team", 'quote"s'], ["teamed"], ["team"]]
        for ns in spaces:
            await svc.create(f"The zorblax protocol note for {'/'.join(ns)}", ns)
        for ns in spaces:
            ids = await svc._lexical("zorblax protocol", "/".join(ns), 10, "", [])
            rows = await rt.memories.get_many(ids)
            assert [r.namespace for r in rows.values()] == ["/".join(ns)]
    finally:
        await rt.close()


async def test_index_path_filters_and_drops_strays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large namespaces go through Chroma: filters still apply, and a vector whose memory is gone
    (removed behind the index's back, no tombstone) is dropped when a search meets it."""
    monkeypatch.setattr(memories_module, "EXACT_SEARCH_MAX", 0)
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = MemoryService(rt)
        pet = await svc.create("Mira: I adopted a grey cat called Pixel", ["mira"], metadata={"kind": "pet"})
        dog = await svc.create("Mira: I adopted a rescue greyhound", ["mira"], metadata={"kind": "note"})
        gone = await svc.create("Mira: I adopted a parrot named Kiwi", ["mira"], metadata={"kind": "pet"})
        got = await semantic_ids(
            svc, "Which pet did Mira adopt?", ["mira"], *filters.compile_filter({"kind": "pet"})
        )
        assert set(got) == {pet.id, gone.id}
        async with rt.db.transaction() as conn:
            await conn.execute("DELETE FROM memories WHERE id = ?", (gone.id,))
        index = await rt.index()
        assert gone.id in await asyncio.to_thread(index.all_ids)
        got = await semantic_ids(svc, "Which pet did Mira adopt?", ["mira"])
        assert set(got) == {pet.id, dog.id}
        assert gone.id not in await asyncio.to_thread(index.all_ids)
    finally:
        await rt.close()
