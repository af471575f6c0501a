"""A stdio server stops when told: SIGTERM or SIGINT, stdin open or closed, with or without a
request in flight, it exits within 2 s; every acknowledged write is in an export afterwards and
the index owner lock is free for the next server. A second signal exits at once.

Each case spawns the real console script with its stdin a pipe the test keeps open, as a host does.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.mcp_client import call, memory_session, server_env
from tests.stdio_process import StdioServer, console_script, tool_result

pytestmark = pytest.mark.process

#: The issue's bound: a stdio server exits this soon after SIGTERM or SIGINT.
EXIT_WITHIN = 2.0
SIGNALS = [signal.SIGTERM, signal.SIGINT]


async def exit_time(server: StdioServer, sig: int) -> float:
    """Send `sig`; seconds until the process has exited (it must, within the test's patience)."""
    start = time.monotonic()
    try:
        os.kill(server.pid, sig)
    except ProcessLookupError:  # it had already exited (stdin closed first)
        pass
    try:
        await asyncio.wait_for(server.proc.wait(), 30)
    finally:
        await server.kill()
    return time.monotonic() - start


def export_contents(data: Path) -> dict[str, str]:
    """id -> content of every memory in `langmem-mcp export`, run as a user would."""
    out = subprocess.run(
        [*console_script(), "--data-dir", str(data), "export"],
        env={**os.environ, **server_env(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {r["id"]: r["content"] for r in rows if r.get("table", "memories") == "memories"}


def lock_is_free(data: Path) -> bool:
    """Can another process take the index owner's lock now?"""
    path = data / "owner.lock"
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def acknowledged(server: StdioServer, writes: dict[int, str]) -> dict[str, str]:
    """id -> content of the writes the server answered with success."""
    out = {}
    for rid, text in writes.items():
        answer = server.answers.get(rid)
        if answer is not None and "result" in answer and not answer["result"].get("isError"):
            out[tool_result(answer)["id"]] = text
    return out


async def check_stopped(server: StdioServer, sig: int, data: Path, acked: dict[str, str]) -> None:
    took = await exit_time(server, sig)
    err = server.stderr()
    assert took < EXIT_WITHIN, f"exited {took:.2f} s after {sig.name}:\n{err}"
    assert server.proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert lock_is_free(data), "the index owner lock is still held"
    # the database was closed: its write-ahead log checkpointed away
    assert not (data / "memory.sqlite3-wal").exists()
    exported = export_contents(data)
    assert {i: exported.get(i) for i in acked} == acked


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_right_after_the_handshake(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "data"
    server = await StdioServer.start(data, tmp_path / "server.log", LANGMEM_MCP_LOG_LEVEL="INFO")
    await check_stopped(server, sig, data, {})
    assert "stopped; data committed and closed" in server.stderr()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_after_a_write(tmp_path: Path, sig: signal.Signals) -> None:
    """The write loads the index, so this server holds the owner lock when the signal comes; the
    next server takes it over and finds the memory."""
    data = tmp_path / "data"
    server = await StdioServer.start(data, tmp_path / "server.log", LANGMEM_MCP_LOG_LEVEL="INFO")
    text = "The build cache lives on the second disk"
    made = tool_result(await server.answer(server.call("manage_memory", content=text)))
    assert json.loads((data / "owner.json").read_text())["pid"] == server.pid
    await check_stopped(server, sig, data, {made["id"]: text})
    assert "stopped; data committed and closed" in server.stderr()

    async with memory_session(data) as s:  # the next server, here in this process
        hits = (await call(s, "search_memory", query="where is the build cache?"))["memories"]
        assert hits[0]["id"] == made["id"]
        assert json.loads((data / "owner.json").read_text())["pid"] != server.pid


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_with_requests_in_flight(tmp_path: Path, sig: signal.Signals) -> None:
    """A tool waiting on the host's model (a sampling request the host never answers), a search
    waiting for the index to load, and a burst of writes, all in flight when the signal comes."""
    data = tmp_path / "data"
    server = await StdioServer.start(data, tmp_path / "server.log", sampling=True)
    server.call("search_memory", query="anything about gardens")
    writes = {server.call("manage_memory", content=f"garden fact {i}"): f"garden fact {i}" for i in range(20)}
    waiting = server.call(
        "extract_memories", messages=[{"role": "user", "content": "I grow basil on the balcony"}]
    )
    await server.server_request("sampling/createMessage")  # the tool is now waiting on the host
    took = await exit_time(server, sig)
    await server.drain()
    err = server.stderr()
    assert took < EXIT_WITHIN, f"exited {took:.2f} s after {sig.name}:\n{err}"
    assert server.proc.returncode == 0, err
    assert waiting not in server.answers  # cancelled by the shutdown, as when stdin closes
    assert lock_is_free(data)
    acked = acknowledged(server, writes)
    exported = export_contents(data)
    assert {i: exported.get(i) for i in acked} == acked
    # nothing but what was sent, and no half-written rows
    assert set(exported.values()) <= set(writes.values())
    with sqlite3.connect(data / "memory.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_with_stdin_closed(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "data"
    server = await StdioServer.start(data, tmp_path / "server.log")
    text = "Prefers tabs to spaces"
    made = tool_result(await server.answer(server.call("manage_memory", content=text)))
    server.close_stdin()
    await check_stopped(server, sig, data, {made["id"]: text})


async def unindexed_store(data: Path, n: int) -> None:
    """A data dir of n memories committed but not indexed yet, as a crash between commit and
    indexing leaves them: the next server's start-up reconcile has seconds of embedding to do."""
    from langmem_mcp.engine.context import ContextPolicy
    from langmem_mcp.store.memories import MemoryStore, NewMemory
    from langmem_mcp.store.sqlite import Database

    data.mkdir(parents=True)
    db = await Database.open(data / "memory.sqlite3")
    try:
        rows = [
            NewMemory(str(uuid.uuid4()), "memories", f"note {i} on the harbour tides", {}, 0.5)
            for i in range(n)
        ]
        await MemoryStore(db, ContextPolicy().reach).insert_many(rows, [None] * n)  # no vector yet
    finally:
        await db.close()


async def reconciling(tmp_path: Path) -> StdioServer:
    """A server in the middle of its start-up reconcile (it owns the index, its first search is
    still waiting)."""
    data = tmp_path / "data"
    await unindexed_store(data, 3000)
    server = await StdioServer.start(data, tmp_path / "server.log", LANGMEM_MCP_LOG_LEVEL="INFO")
    search = server.call("search_memory", query="tides")
    deadline = time.monotonic() + 60
    while owner_pid(data) != server.pid:  # published just before the reconcile starts
        assert time.monotonic() < deadline, server.stderr()
        await asyncio.sleep(0.02)
    assert "reconciled" not in server.stderr()  # still at it
    assert search not in server.answers
    return server


def owner_pid(data: Path) -> int | None:
    try:
        return int(json.loads((data / "owner.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


async def test_shutdown_during_a_long_reconcile_is_bounded(tmp_path: Path) -> None:
    """Work that cannot stop in time (embedding thousands of rows) does not hold the exit up: the
    database is closed, and the reconcile is redone by the next server."""
    server = await reconciling(tmp_path)
    took = await exit_time(server, signal.SIGTERM)
    err = server.stderr()
    assert took < EXIT_WITHIN, f"exited {took:.2f} s after SIGTERM:\n{err}"
    assert server.proc.returncode == 0, err
    assert "stopped; data committed and closed" in err
    assert lock_is_free(tmp_path / "data")


async def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    server = await reconciling(tmp_path)
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while "SIGTERM: stopping" not in server.stderr():
        assert time.monotonic() < deadline and server.proc.returncode is None, server.stderr()
        await asyncio.sleep(0.01)
    took = await exit_time(server, signal.SIGINT)
    assert took < 0.5, f"exited {took:.2f} s after the second signal:\n{server.stderr()}"
    assert server.proc.returncode == 128 + signal.SIGINT, server.stderr()
