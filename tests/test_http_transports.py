"""MCP over streamable HTTP and SSE with the SDK's own clients, one runtime for both, and a
clean shutdown on SIGTERM and SIGINT (writes committed, WAL checkpointed, data there on restart).

`--transport sse` serves streamable HTTP at /mcp too (one app): the tools tests of both
transports and the shared-runtime test use one such server, each in a namespace of its own;
the shutdown tests start `--transport http` servers of their own."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.http_server import Server, http_server, mcp_session
from tests.mcp_client import call, memory_session, read_json

pytestmark = [pytest.mark.process, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    async with http_server(tmp_path_factory.mktemp("sse") / "data", "sse") as s:
        yield s
        assert s.stop() == 0, s.output()


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_tools_over_transport(server: Server, transport: str) -> None:
    ns = [f"via-{transport}"]
    async with mcp_session(server, transport) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert {"manage_memory", "search_memory"} <= names
        made = await call(s, "manage_memory", content="The deploy key lives in the team vault", namespace=ns)
        hits = (await call(s, "search_memory", query="where is the deploy key?", namespace=ns))["memories"]
        assert hits[0]["id"] == made["id"]
        item = await read_json(s, f"memory://item/{ns[0]}/{made['id']}")
        assert item["content"] == "The deploy key lives in the team vault"


async def test_both_transports_share_one_runtime(server: Server) -> None:
    """A write over one transport is seen over the other."""
    ns = ["both"]
    async with mcp_session(server, "sse") as a, mcp_session(server, "http") as b:
        made = await call(a, "manage_memory", content="Standup moved to 9:30", namespace=ns)
        hits = (await call(b, "search_memory", query="standup", namespace=ns))["memories"]
        assert [h["id"] for h in hits] == [made["id"]]
        counts = {
            tuple(n["namespace"]): n["count"] for n in (await read_json(b, "memory://stats"))["namespaces"]
        }
        assert counts[("both",)] == 1


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
    async with memory_session(data) as s:  # the next server, here in this process
        hits = (await call(s, "search_memory", query="garden", limit=10))["memories"]
        assert sorted(h["id"] for h in hits) == sorted(ids)
