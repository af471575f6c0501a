"""Bulk writes are indexed at once with fast vectors and refined to window vectors when idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langmem_mcp.config import load_settings
from langmem_mcp.index.indexer import INDEXED, UPGRADE
from langmem_mcp.service.container import Services
from langmem_mcp.service.memories import BULK_WRITE, NewItem
from langmem_mcp.service.runtime import Runtime


async def states(rt: Runtime) -> dict[int, int]:
    return {
        r[0]: r[1] for r in await rt.db.fetchall("SELECT indexed, COUNT(*) FROM memories GROUP BY indexed")
    }


async def test_bulk_write_is_searchable_at_once_and_upgraded_when_idle(tmp_path: Path) -> None:
    rt = await Runtime.open(load_settings(data_dir=tmp_path))
    try:
        svc = Services.build(rt).memories
        n = BULK_WRITE * 2
        items = [
            NewItem(f"Ana: note {i} about the lighthouse keeper's {i % 7} cats", ["bulk"]) for i in range(n)
        ]
        items[17] = NewItem("Ana: my grandmother grew saffron in Kozani", ["bulk"])
        results = await svc.create_many(items)
        assert all(r.action == "created" for r in results)
        assert (await states(rt)).get(UPGRADE, 0) >= n - 1  # fast vectors, upgrade pending
        hits = await svc.search("Where did my grandmother grow spices?", ["bulk"], limit=3)
        assert hits[0].id == results[17].id
        # single writes are indexed with window vectors straight away
        one = await svc.create("Ana: the lighthouse is in Finistère", ["single"])
        row = await rt.db.fetchone("SELECT indexed FROM memories WHERE id = ?", (one.id,))
        assert row[0] == INDEXED
        for _ in range(600):  # the worker upgrades once writes stop (about 2 s), in batches
            if (await states(rt)).get(UPGRADE, 0) == 0:
                break
            await asyncio.sleep(0.2)
        assert await states(rt) == {INDEXED: n + 1}
        hits = await svc.search("Where did my grandmother grow spices?", ["bulk"], limit=3)
        assert hits[0].id == results[17].id
    finally:
        await rt.close()
