"""Vectors kept beside their memories: exact search in small namespaces; a Chroma collection
for each large one, filled from them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import chromadb
import numpy as np

from langmem_mcp.config import load_settings
from langmem_mcp.engine import filters
from langmem_mcp.index import chroma as vectors_module
from langmem_mcp.service import transfer
from langmem_mcp.service.container import Services
from langmem_mcp.service.memories import MemoryService, NewItem
from langmem_mcp.service.runtime import Runtime
from tests.indexing import wait_filled, wait_indexed
from tests.mcp_client import call, memory_session

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


async def test_exact_and_index_paths_agree(tmp_path: Path) -> None:
    # exact_search_max=0: every namespace also gets its HNSW collection in Chroma
    rt = await Runtime.open(load_settings(data_dir=tmp_path, exact_search_max=0))
    try:
        svc = Services.build(rt).memories
        for note in NOTES:
            await svc.create(note, ["mira"])
        assert await rt.db.scalar("SELECT COUNT(*) FROM memory_vectors WHERE namespace = 'mira'") == len(
            NOTES
        )
        await wait_filled(rt, "mira")
        await wait_indexed(rt)  # both paths then score the same (final) vectors
        hnsw = [await semantic_ids(svc, q, ["mira"]) for q in QUESTIONS]
        exact_svc = Services.build(rt).memories
        exact_svc.settings = replace(rt.settings, exact_search_max=5000)
        exact = [await semantic_ids(exact_svc, q, ["mira"]) for q in QUESTIONS]
        for e, h in zip(exact, hnsw, strict=True):
            assert e[:3] == h[:3]
            assert set(e) == set(h)
        hits = await svc.search("Which musical instrument is Mira learning?", ["mira"], limit=1)
        assert "cello" in hits[0].content
    finally:
        await rt.close()


async def test_only_large_namespaces_get_a_collection(tmp_path: Path) -> None:
    """Chroma holds a namespace once it outgrows exact search, filled from the kept vectors; its
    writes and deletes then go to both. Until the fill is done, the namespace is scored exactly."""
    rt = await Runtime.open(load_settings(data_dir=tmp_path, exact_search_max=5))
    try:
        svc = Services.build(rt).memories
        small = [await svc.create(n, ["small"]) for n in NOTES[:3]]
        for note in NOTES[:5]:
            await svc.create(note, ["big"])
        shared = await rt.index.get()
        assert shared.indexer is not None
        shared.indexer.grow(everywhere=True)
        assert shared.indexer.index.filled() == set()  # 5 is not more than 5
        assert not (tmp_path / "chroma").exists()  # no collection yet: Chroma is not even opened
        assert (await semantic_ids(svc, "What pet does Mira have?", ["big"]))[:1]
        rest = [await svc.create(n, ["big"]) for n in NOTES[5:]]
        index = await wait_filled(rt, "big")
        await wait_indexed(rt)
        assert index.filled() == {"big"} and not index.holds("small")
        assert (tmp_path / "chroma" / "chroma.sqlite3").is_file()
        in_chroma = await asyncio.to_thread(index.all_ids)
        big_ids = {r[0] for r in await rt.db.fetchall("SELECT id FROM memories WHERE namespace = 'big'")}
        assert in_chroma == {"big": big_ids}
        # writes and deletes in the large namespace reach Chroma; the small one stays out of it
        extra = await svc.create("Mira: I bought a second-hand kayak", ["big"])
        await svc.delete(rest[0].id, ["big"])
        await svc.delete(small[0].id, ["small"])
        hits = await svc.search("Which boat did Mira buy?", ["big"], limit=1)  # at once, by meaning
        assert hits[0].id == extra.id
        await wait_indexed(rt)
        in_chroma = await asyncio.to_thread(index.all_ids)
        assert extra.id in in_chroma["big"] and rest[0].id not in in_chroma["big"]
        assert set(in_chroma) == {"big"}
        assert await rt.db.scalar("SELECT COUNT(*) FROM index_tombstones") == 0
    finally:
        await rt.close()


async def test_a_backup_is_searchable_without_re_embedding(tmp_path: Path) -> None:
    """The vectors come along in a backup; the copy's first server fills Chroma from them."""
    a, b = tmp_path / "a", tmp_path / "b"
    settings = load_settings(data_dir=a, exact_search_max=5)
    rt = await Runtime.open(settings)
    try:
        svc = Services.build(rt).memories
        await svc.create_many([NewItem(n, ["mira"]) for n in NOTES])
        await svc.create("Ola: I keep bees on the roof", ["ola"])
        await wait_filled(rt, "mira")
    finally:
        await rt.close()
    assert transfer.backup(settings.db_path, b) == len(NOTES) + 1
    rt = await Runtime.open(replace(settings, data_dir=b))
    try:
        index = await wait_filled(rt, "mira")
        assert rt.index.reconciled == 0  # nothing re-embedded
        assert len((await asyncio.to_thread(index.all_ids))["mira"]) == len(NOTES)
        svc = Services.build(rt).memories
        hits = await svc.search("What sport is Mira's brother doing?", ["mira"], limit=1)
        assert "marathon" in hits[0].content
        hits = await svc.search("insects and honey", ["ola"], limit=1)
        assert "bees" in hits[0].content
    finally:
        await rt.close()


async def test_vectors_follow_their_memory(tmp_path: Path) -> None:
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = Services.build(rt).memories
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


async def test_an_older_data_dir_is_taken_over(tmp_path: Path) -> None:
    """A data dir from before schema 8 has one Chroma collection for every namespace (and, before
    schema 6, no vectors in SQLite): the vectors are copied from it, not re-made by the model,
    except those it lacks; then it is dropped."""
    settings = load_settings(data_dir=tmp_path)
    rt = await Runtime.open(settings)
    try:
        svc = Services.build(rt).memories
        made = await svc.create_many([NewItem(n, ["mira"]) for n in NOTES])
        kept = {r[0]: r[1] for r in await rt.db.fetchall("SELECT id, vector FROM memory_vectors")}
        dim = (await rt.index.get()).embedder.dim
        model = (await rt.index.get()).embedder.model_id
        async with rt.db.transaction() as conn:
            await conn.execute("DELETE FROM memory_vectors")
            await conn.execute("DELETE FROM meta WHERE key = 'index_model'")
    finally:
        await rt.close()
    # the old layout: one collection, the namespace in each vector's metadata
    client = chromadb.PersistentClient(path=str(settings.chroma_dir))
    old = client.create_collection(
        vectors_module.LEGACY,
        metadata={"embedder": model, "dim": dim},
        configuration={"hnsw": {"space": "cosine"}},
    )
    ids = [m.id for m in made[1:]]  # one row the old index never had: it must be re-embedded
    vectors = np.stack([np.frombuffer(kept[i], dtype=np.float16).astype(np.float32) for i in ids])
    old.add(ids=ids, embeddings=vectors, metadatas=[{"ns": "mira"}] * len(ids))
    rt = await Runtime.open(settings)
    try:
        await rt.index.get()  # the owner's start copies what Chroma has and re-embeds the rest
        for _ in range(100):
            if await rt.db.scalar("SELECT COUNT(*) FROM memory_vectors") == len(NOTES):
                break
            await asyncio.sleep(0.2)
        now = {r[0]: r[1] for r in await rt.db.fetchall("SELECT id, vector FROM memory_vectors")}
        assert set(now) == set(kept)
        assert all(now[i] == kept[i] for i in ids)
        assert vectors_module.LEGACY not in [c.name for c in client.list_collections()]
        hits = await Services.build(rt).memories.search(
            "What is the name of the cat Mira adopted?", ["mira"], limit=1
        )
        assert "Pixel" in hits[0].content
    finally:
        await rt.close()


async def test_search_over_mcp_uses_the_kept_vectors(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
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
        svc = Services.build(rt).memories
        spaces = [["équipe", "数据"], ["team", "a b"], ["team", 'quote"s'], ["teamed"], ["team"]]
        for ns in spaces:
            await svc.create(f"The zorblax protocol note for {'/'.join(ns)}", ns)
        for ns in spaces:
            ids, _ = await svc._keywords("zorblax protocol", "/".join(ns), 10, "", [])
            rows = await rt.memories.get_many(ids)
            assert [r.namespace for r in rows.values()] == ["/".join(ns)]
    finally:
        await rt.close()


async def test_index_path_filters_and_drops_strays(tmp_path: Path) -> None:
    """Large namespaces go through Chroma: filters still apply, and a vector whose memory is gone
    (removed behind the index's back, no tombstone) is dropped when a search meets it."""
    rt = await Runtime.open(load_settings(data_dir=tmp_path, exact_search_max=0))
    try:
        svc = Services.build(rt).memories
        pet = await svc.create("Mira: I adopted a grey cat called Pixel", ["mira"], metadata={"kind": "pet"})
        dog = await svc.create("Mira: I adopted a rescue greyhound", ["mira"], metadata={"kind": "note"})
        gone = await svc.create("Mira: I adopted a parrot named Kiwi", ["mira"], metadata={"kind": "pet"})
        index = await wait_filled(rt, "mira")
        await wait_indexed(rt)  # all three are in the collection
        got = await semantic_ids(
            svc, "Which pet did Mira adopt?", ["mira"], *filters.compile_filter({"kind": "pet"})
        )
        assert set(got) == {pet.id, gone.id}
        async with rt.db.transaction() as conn:
            await conn.execute("DELETE FROM memories WHERE id = ?", (gone.id,))
        assert gone.id in (await asyncio.to_thread(index.all_ids))["mira"]
        got = await semantic_ids(svc, "Which pet did Mira adopt?", ["mira"])
        assert set(got) == {pet.id, dog.id}
        assert gone.id not in (await asyncio.to_thread(index.all_ids))["mira"]
    finally:
        await rt.close()


async def test_decoded_vectors_are_kept_until_another_connection_changes_them(services: Services) -> None:
    """A namespace's vectors are decoded once and kept while its version says nothing changed
    them; a change committed by any connection (another process, the index worker) is seen by
    the next search."""
    import sqlite3

    svc = services.memories
    made = await svc.create_many([NewItem(t, ["mira"]) for t in NOTES])
    await wait_indexed(services.runtime)
    index = await services.runtime.index.get()
    dim, limit = index.embedder.dim, services.settings.exact_search_max
    rows = services.runtime.vectors
    first = await rows.matrix("mira", dim, limit)
    assert first is not None and len(first[0]) == len(NOTES)
    again = await rows.matrix("mira", dim, limit)
    assert again is not None and again[1] is first[1]  # not read again
    assert (await semantic_ids(svc, QUESTIONS[0], ["mira"]))[0] == made[0].id  # Pixel the cat

    # Another connection gives the cat's memory the vector of the ankle one: the next read sees it.
    conn = sqlite3.connect(services.settings.db_path)
    with conn:
        ankle = conn.execute("SELECT vector FROM memory_vectors WHERE id = ?", (made[10].id,)).fetchone()[0]
        conn.execute("UPDATE memory_vectors SET vector = ? WHERE id = ?", (ankle, made[0].id))
    conn.close()
    changed = await rows.matrix("mira", dim, limit)
    assert changed is not None and changed[1] is not first[1]
    top = await semantic_ids(svc, QUESTIONS[5], ["mira"])
    assert set(top[:2]) == {made[0].id, made[10].id}

    # A memory deleted: its vector goes (a trigger), and so does the kept copy.
    await svc.delete(made[10].id, ["mira"])
    left = await rows.matrix("mira", dim, limit)
    assert left is not None and made[10].id not in left[0] and len(left[0]) == len(NOTES) - 1

    # This process's own create extends the kept copy with the vector it stored, as stored.
    kite = await svc.create("Mira: I built a kite with my niece on Sunday", ["mira"])
    grown = await rows.matrix("mira", dim, limit)
    assert grown is not None and grown[0][-1] == kite.id and len(grown[0]) == len(NOTES)
    conn = sqlite3.connect(services.settings.db_path)
    stored = conn.execute("SELECT vector FROM memory_vectors WHERE id = ?", (kite.id,)).fetchone()[0]
    conn.close()
    assert np.array_equal(grown[1][-1], np.frombuffer(stored, dtype=np.float16).astype(np.float32))
    assert (await semantic_ids(svc, "Who flew a kite?", ["mira"]))[0] == kite.id


async def test_a_namespace_that_shrank_below_exact_search_is_still_searched_right(tmp_path: Path) -> None:
    """A namespace found large is taken to be large for a while without asking again; after most
    of it is deleted, searches still find exactly what is left (through its collection, or every
    vector scored when it has none)."""
    rt = await Runtime.open(load_settings(data_dir=tmp_path, exact_search_max=4))
    try:
        svc = Services.build(rt).memories
        made = [await svc.create(note, ["mira"]) for note in NOTES]
        assert len(made) > 4
        await wait_filled(rt, "mira")
        await wait_indexed(rt)
        before = await semantic_ids(svc, "Which pet did Mira adopt?", ["mira"])
        assert len(before) == min(10, len(made)) and set(before) <= {m.id for m in made}
        assert await rt.vectors.matrix("mira", (await rt.index.get()).embedder.dim, 4) is None
        for m in made[2:]:
            assert await svc.delete(m.id, ["mira"])
        kept = {m.id for m in made[:2]}
        assert set(await semantic_ids(svc, "Which pet did Mira adopt?", ["mira"])) == kept
        hits = await svc.search("What is the name of the cat Mira adopted?", ["mira"], limit=5)
        assert {h.id for h in hits} == kept
    finally:
        await rt.close()
