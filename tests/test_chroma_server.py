"""The memory tests again, with vectors on a Chroma server (`chroma run`) instead of the embedded
store: `LANGMEM_MCP_CHROMA_URL`. Runs when LANGMEM_TEST_CHROMA_URL names a running server
(.ci/run starts one on loopback); skipped otherwise.

Only namespaces larger than LANGMEM_MCP_EXACT_SEARCH_MAX get a Chroma collection; these tests set
it to 0, so every namespace has one and every semantic search goes through the server. One
Chroma server holds one memory store's collections, so these tests run one data dir at a time
(vectors another data dir left are strays, dropped when a search meets them)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from langmem_mcp.index.chroma import collection_name
from tests import mcp_client
from tests import test_memory_tools as core
from tests import test_memory_truth as truth
from tests.mcp_client import call, memory_session, read_json

URL = os.environ.get("LANGMEM_TEST_CHROMA_URL", "")
pytestmark = pytest.mark.skipif(
    not URL, reason="set LANGMEM_TEST_CHROMA_URL to a `chroma run` server (.ci/run does)"
)


@pytest.fixture(autouse=True)
def on_chroma_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every server these tests spawn keeps its vectors on the Chroma server, for every namespace."""
    plain = mcp_client.server_env
    on_server = {"LANGMEM_MCP_CHROMA_URL": URL, "LANGMEM_MCP_EXACT_SEARCH_MAX": "0"}
    monkeypatch.setattr(mcp_client, "server_env", lambda d, **e: plain(d, **{**on_server, **e}))


# The core memory flow, unchanged, against the Chroma server.
for _name in dir(core):
    if _name.startswith("test_"):
        globals()[f"{_name}_on_chroma_server"] = getattr(core, _name)
# Supersede, history, similar memories and time filters, with every search and similarity check
# going through the server's collections (the tests that only drive the MCP server).
for _name in (
    "test_the_same_text_after_normalising_is_not_stored_again",
    "test_a_rephrasing_is_created_and_points_at_the_similar_memories",
    "test_boston_to_denver",
    "test_supersede_keeps_metadata_unless_given_and_finds_an_existing_text",
    "test_update_is_a_correction_that_keeps_history",
    "test_time_filters",
    "test_similarity_is_read_before_the_new_text_joins_its_neighbours_context",
):
    globals()[f"{_name}_on_chroma_server"] = getattr(truth, _name)


async def test_vectors_live_on_the_server(tmp_path: Path) -> None:
    import chromadb

    u = urlparse(URL)
    client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000)
    name = collection_name("memories")
    async with memory_session(tmp_path) as s:
        made = [(await call(s, "manage_memory", content=f"server-side fact {i}"))["id"] for i in range(3)]
        hits = (await call(s, "search_memory", query="server-side fact 2"))["memories"]
        assert hits[0]["id"] == made[2]
        assert (await read_json(s, "memory://stats"))["index_ready"] is True
        for _ in range(100):  # the index worker puts them in the namespace's collection
            if name in {c.name for c in client.list_collections()}:
                if len(client.get_collection(name).get(ids=made)["ids"]) == len(made):
                    break
            await asyncio.sleep(0.1)
        hits = (await call(s, "search_memory", query="server-side fact 1"))["memories"]
        assert hits[0]["id"] == made[1]
    assert not (tmp_path / "chroma").exists()  # nothing embedded under the data dir
    got = client.get_collection(name).get(ids=made)["ids"]
    assert sorted(got) == sorted(made)
