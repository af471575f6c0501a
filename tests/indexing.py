"""Waiting for the index worker, for tests that look at what it makes (contexts, Chroma)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from langmem_mcp.service.runtime import Runtime

if TYPE_CHECKING:
    from langmem_mcp.index.chroma import VectorIndex


async def wait_indexed(rt: Runtime, timeout: float = 60.0) -> None:
    """Until the index worker has finished every row written so far (bulk upgrades aside)."""
    deadline = time.monotonic() + timeout
    while await rt.memories.pending():
        if time.monotonic() > deadline:
            raise AssertionError(f"the index worker left {await rt.memories.pending()} rows unfinished")
        await asyncio.sleep(0.02)


async def wait_filled(rt: Runtime, ns: str, timeout: float = 10.0) -> VectorIndex:
    """The owner's Chroma index once the namespace's collection is filled (the worker does it)."""
    shared = await rt.index.get()
    assert shared.indexer is not None
    deadline = time.monotonic() + timeout
    while ns not in shared.indexer.index.filled():
        if time.monotonic() > deadline:
            raise AssertionError(f"{ns} was never filled")
        await asyncio.sleep(0.05)
    return shared.indexer.index


async def wait_indexed_dir(data_dir: Path, timeout: float = 60.0) -> None:
    """The same, for a server seen from outside (its data dir read read-only)."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(f"file:{data_dir / 'memory.sqlite3'}?mode=ro", uri=True) as conn:
            left = conn.execute(
                "SELECT (SELECT COUNT(*) FROM memories WHERE indexed != 1 AND indexed != 2)"
                " + (SELECT COUNT(*) FROM memories WHERE context_stale = 1)"
            ).fetchone()[0]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the index worker left {left} rows unfinished")
        await asyncio.sleep(0.02)
