"""Every unexpected failure says what failed: the operation, the component, what to do, and an error
id that is also in the log line with the traceback. Expected errors keep their exact messages.

Faults injected for real: a page of the database overwritten with random bytes (the root page of
the memories table, as a bad disk leaves it), and an embedding model that cannot load.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import uuid
from pathlib import Path

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.http_server import http_server
from tests.mcp_client import call, call_error, memory_session

ERROR_ID = re.compile(r"Error id ([0-9a-f]{8}) \(in the server log\)\.$")
SDK_PREFIX = "Error executing tool {tool}: "


def corrupt_table(db: Path, table: str) -> None:
    """Overwrite the root page of `table` with random bytes (the file was closed: no WAL)."""
    assert not db.with_name(db.name + "-wal").exists()
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(os.urandom(page_size))


def logged_with_traceback(caplog: pytest.LogCaptureFixture, error_id: str) -> logging.LogRecord:
    [record] = [r for r in caplog.records if f"[error {error_id}]" in r.getMessage()]
    assert record.exc_info is not None and record.levelno == logging.ERROR
    return record


def explained(message: str, operation: str, component: str, advice: str) -> str:
    """Check the shape of an explained failure; return its error id."""
    assert message.startswith(f"{operation} failed in the {component} ("), message
    assert advice in message, message
    found = ERROR_ID.search(message)
    assert found, message
    return found.group(1)


async def seeded(data: Path) -> list[str]:
    async with memory_session(data) as s:
        return [(await call(s, "manage_memory", content=t))["id"] for t in ("Uses vim", "Lives in Oslo")]


async def test_a_corrupt_database_page(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    await seeded(data)
    corrupt_table(data / "memory.sqlite3", "memories")
    caplog.set_level(logging.ERROR, logger="langmem_mcp")
    advice = "check the data directory (disk space, permissions) and run `langmem-mcp doctor`"
    async with memory_session(data) as s:
        for tool, args in (("manage_memory", {"content": "Likes tea"}), ("search_memory", {"query": "vim"})):
            message = await call_error(s, tool, **args)
            assert message.startswith(SDK_PREFIX.format(tool=tool)), message
            message = message.removeprefix(SDK_PREFIX.format(tool=tool))
            error_id = explained(message, tool, "database", advice)
            assert "malformed" in message
            record = logged_with_traceback(caplog, error_id)
            assert record.getMessage() == f"{tool} failed in the database [error {error_id}]"

        with pytest.raises(MCPError) as raised:
            await s.read_resource("memory://list/memories")
        error_id = explained(
            str(raised.value), "reading memory://list/{namespace}{?cursor,limit}", "database", advice
        )
        logged_with_traceback(caplog, error_id)

        # an expected error keeps its exact message, with no id
        missing = str(uuid.uuid4())
        message = await call_error(s, "manage_memory", action="update", id="not-a-uuid", content="x")
        assert (
            message
            == SDK_PREFIX.format(tool="manage_memory") + "no memory with id 'not-a-uuid' in this namespace"
        )
        message = await call_error(s, "manage_memory", action="delete", content="x", id=missing)
        assert message == SDK_PREFIX.format(tool="manage_memory") + "delete takes only an id; remove content"


async def test_an_embedding_model_that_cannot_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Writes are acknowledged (the row is committed; indexing waits for a model), and a search
    says it is the model that failed."""
    caplog.set_level(logging.WARNING, logger="langmem_mcp")
    async with memory_session(tmp_path / "data", LANGMEM_MCP_EMBEDDER="sentence-transformers:") as s:
        made = await call(s, "manage_memory", content="Prefers tabs to spaces")
        assert made["action"] == "created"
        message = (await call_error(s, "search_memory", query="tabs")).removeprefix(
            SDK_PREFIX.format(tool="search_memory")
        )
        error_id = explained(
            message,
            "search_memory",
            "model",
            "run `langmem-mcp doctor` to check that the embedding model loads",
        )
        assert "EmbeddingModelError" in message and "missing model name" in message
        logged_with_traceback(caplog, error_id)
    assert any("memories saved; indexing them now failed" in r.getMessage() for r in caplog.records)
    # with no vector there is nothing to compare: the similar-memory check does not run (and fail)
    assert not any("similar-memory check" in r.getMessage() for r in caplog.records)
    with sqlite3.connect(tmp_path / "data" / "memory.sqlite3") as conn:
        assert conn.execute("SELECT content, indexed FROM memories").fetchall() == [
            ("Prefers tabs to spaces", 0)
        ]


@pytest.mark.process
async def test_a_rest_route_on_a_corrupt_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await seeded(data)
    corrupt_table(data / "memory.sqlite3", "memories")
    async with http_server(data, "http") as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=60) as client:
            res = await client.post("/memories/search", json={"query": "vim"})
            assert res.status_code == 500
            detail = res.json()["detail"]
            error_id = explained(detail, "POST /memories/search", "database", "run `langmem-mcp doctor`")
            # an expected error: its status and exact message
            res = await client.post("/memories/search", json={})
            assert res.status_code == 422
            assert res.json() == {"detail": "missing required field(s): query"}
        server.stop()
    log = server.output()
    line = next(line for line in log.splitlines() if f"[error {error_id}]" in line)
    assert "POST /memories/search failed in the database" in line
    after = log[log.index(line) :]
    assert "Traceback (most recent call last)" in after and "malformed" in after
