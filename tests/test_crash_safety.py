"""SIGKILL the server in the middle of a 10,000-memory bulk ingest, restart, and prove that
every acknowledged write survived, the index agrees with SQLite, and the index worker finishes
what the crash interrupted."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
from pathlib import Path

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.service.container import Services
from langmem_mcp.service.runtime import Runtime
from tests.indexing import wait_indexed
from tests.mcp_client import call, stdio_session

pytestmark = pytest.mark.process

#: Small, so the namespace also gets its Chroma collection and both stores are checked.
EXACT_MAX = 10

TOTAL = 10_000
CONCURRENCY = 8
KILL_AFTER_ACKS = 400
WORDS = (
    "amber basil cedar delta ember fjord garnet harbor indigo juniper kestrel lagoon meadow "
    "nectar orchid pebble quartz raven saffron tundra umber violet willow xenon yarrow zephyr"
).split()


def corpus() -> list[str]:
    rng = random.Random(7)
    return [f"Memory {i}: {' '.join(rng.sample(WORDS, 5))} entry {i:05d}" for i in range(TOTAL)]


def unindexed(db: Path) -> int:
    """Rows committed whose index work (context, final vector, Chroma) is not finished."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT COUNT(*) FROM memories WHERE indexed != 1 OR context_stale = 1"
        ).fetchone()[0]
    finally:
        conn.close()


async def test_sigkill_during_bulk_ingest(tmp_path: Path) -> None:
    texts = corpus()
    acked: dict[str, str] = {}
    queue = iter(texts)
    killed = asyncio.Event()
    db = tmp_path / "memory.sqlite3"

    async with stdio_session(tmp_path, LANGMEM_MCP_EXACT_SEARCH_MAX=str(EXACT_MAX)) as s:
        await call(s, "search_memory", query="warm up")  # the model is loaded; ownership taken
        pid = json.loads((tmp_path / "owner.json").read_text())["pid"]

        async def writer() -> None:
            for text in queue:
                if killed.is_set():
                    return
                try:
                    r = await call(s, "manage_memory", content=text)
                except Exception:  # noqa: BLE001 - the server is gone; this write was not acknowledged
                    return
                acked[r["id"]] = text

        async def killer() -> None:
            while len(acked) < KILL_AFTER_ACKS or unindexed(db) == 0:
                await asyncio.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            killed.set()

        await asyncio.wait_for(asyncio.gather(killer(), *(writer() for _ in range(CONCURRENCY))), 300)
        pending = unindexed(db)

    assert len(acked) >= KILL_AFTER_ACKS and pending > 0
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = dict(conn.execute("SELECT id, content FROM memories").fetchall())
    conn.close()
    # Every acknowledged write is there, unchanged; nothing else but what we sent.
    assert {i: rows.get(i) for i in acked} == acked
    assert set(rows.values()) <= set(texts)
    print(f"acknowledged {len(acked)}, committed {len(rows)}, unindexed at the kill {pending}")

    # Restart: the runtime reconciles at start.
    rt = await Runtime.open(Settings(data_dir=tmp_path, exact_search_max=EXACT_MAX))
    try:
        index = await rt.index.get()
        assert index.is_owner
        # What the crash left unfinished is finished by the worker, in the background: the rows
        # are searchable meanwhile by their own vectors (checked below, once it is done).
        await wait_indexed(rt, timeout=120)
        assert unindexed(db) == 0
        assert await asyncio.to_thread(index.all_ids) == {"memories": set(rows)}
        kept = {r[0] for r in await rt.db.fetchall("SELECT id FROM memory_vectors")}
        assert kept == set(rows)  # the vectors kept for exact search, too
        svc = Services.build(rt).memories
        sample = random.Random(1).sample(sorted(acked), 15)
        for mid in sample:
            # Both rankers must have it: the exact text, and a paraphrase-free semantic probe.
            hits = await svc.search(acked[mid], limit=5)
            assert hits and hits[0].id == mid
            vector = (await asyncio.to_thread(index.embedder.embed, [acked[mid]]))[0]
            near = await asyncio.to_thread(index.query, vector, "memories", 5)
            assert mid in [h.id for h in near]
    finally:
        await rt.close()

    # The real server starts on the crashed data dir and answers.
    async with stdio_session(tmp_path, LANGMEM_MCP_EXACT_SEARCH_MAX=str(EXACT_MAX)) as s:
        some = sample[0]
        hits = (await call(s, "search_memory", query=acked[some]))["memories"]
        assert hits[0]["id"] == some
