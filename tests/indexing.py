"""Waiting for the index worker, for tests that look at what it makes (contexts, Chroma)."""

from __future__ import annotations

import asyncio
import time

from langmem_mcp.service.runtime import Runtime


async def wait_indexed(rt: Runtime, timeout: float = 60.0) -> None:
    """Until the index worker has finished every row written so far (bulk upgrades aside)."""
    deadline = time.monotonic() + timeout
    while await rt.memories.pending():
        if time.monotonic() > deadline:
            raise AssertionError(f"the index worker left {await rt.memories.pending()} rows unfinished")
        await asyncio.sleep(0.02)
