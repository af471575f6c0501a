"""MCP over streamable HTTP and SSE with the SDK's own clients, one runtime for both, and a
clean shutdown on SIGTERM and SIGINT (writes committed, WAL checkpointed, data there on restart)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.http_server import http_server, mcp_session
from tests.mcp_client import call, read_json, stdio_session

pytestmark = pytest.mark.process


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_tools_over_transport(tmp_path: Path, transport: str) -> None:
    data = tmp_path / "data"
    async with http_server(data, transport) as server:
        async with mcp_session(server, transport) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"manage_memory", "search_memory"} <= names
            made = await call(s, "manage_memory", content="The deploy key lives in the team vault")
            hits = (await call(s, "search_memory", query="where is the deploy key?"))["memories"]
            assert hits[0]["id"] == made["id"]
            item = await read_json(s, f"memory://item/memories/{made['id']}")
            assert item["content"] == "The deploy key lives in the team vault"
        assert server.stop() == 0


async def test_both_transports_share_one_runtime(tmp_path: Path) -> None:
    """`--transport sse` serves /mcp too (one app): a write over one is seen over the other."""
    async with http_server(tmp_path / "data", "sse") as server:
        async with mcp_session(server, "sse") as a, mcp_session(server, "http") as b:
            made = await call(a, "manage_memory", content="Standup moved to 9:30")
            hits = (await call(b, "search_memory", query="standup"))["memories"]
            assert [h["id"] for h in hits] == [made["id"]]
            assert (await read_json(b, "memory://stats"))["total"] == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_clean_shutdown_keeps_writes(tmp_path: Path, sig: int) -> None:
    data = tmp_path / "data"
    async with http_server(data, "http", LANGMEM_MCP_LOG_LEVEL="INFO") as server:
        async with mcp_session(server) as s:
            ids = [
                (await call(s, "manage_memory", content=f"fact number {i} about the garden"))["id"]
                for i in range(5)
            ]
            # a stream is still open while the signal arrives
            assert server.stop(sig) == 0, server.output()
    out = server.output()
    assert "stopped; data committed and closed" in out, out
    # closing the last connection checkpoints the WAL into the database file
    assert not (data / "memory.sqlite3-wal").exists()
    async with stdio_session(data) as s:
        hits = (await call(s, "search_memory", query="garden", limit=10))["memories"]
        assert sorted(h["id"] for h in hits) == sorted(ids)
