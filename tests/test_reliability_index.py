"""The vector index is an index: broken, it never stops the server.

Faults are injected for real: every file under `<data dir>/chroma` overwritten with random bytes (as
a crash mid-write or a bad disk leaves them), only the HNSW segment files of a large collection
(which Chroma reads on the first search, not at open), and a Chroma server that is down, then answers
HTTP 500, then comes back. Writes and searches keep working in small and large namespaces, the
broken index is moved aside (kept), rebuilt from the vectors kept in SQLite, and the next start
finds it healed.
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from langmem_mcp.config import load_settings
from langmem_mcp.index import healing
from langmem_mcp.service.container import Services
from langmem_mcp.service.memories import NewItem
from langmem_mcp.service.runtime import Runtime
from tests.indexing import wait_filled, wait_indexed, wait_indexed_dir
from tests.mcp_client import REPO, call, memory_session

#: Namespaces over this many memories get a Chroma collection.
EXACT_MAX = 5
SMALL_ENV = {"LANGMEM_MCP_EXACT_SEARCH_MAX": str(EXACT_MAX)}
NOTES = [
    "The spare house key is under the blue flower pot",
    "Dentist appointment moved to Thursday at 3 pm",
    "The wifi password for the cabin is written on the fridge",
    "Sam is allergic to penicillin",
    "The car needs new winter tyres before November",
    "Our landlord's name is Mr. Okafor",
    "The team standup is at 9:30 every weekday",
    "Grandma's birthday is on the 2nd of March",
    "The backup drive is in the second drawer of the desk",
    "Lena prefers green tea without sugar",
    "The gym membership renews in January",
    "My passport expires in 2027",
]
QUESTIONS = [
    "where is the spare key?",
    "when is the dentist?",
    "what is Sam allergic to?",
    "what is the landlord called?",
    "where is the backup drive?",
    "how does Lena take her tea?",
]
#: The note answering each of QUESTIONS.
ANSWER = [0, 1, 3, 5, 8, 9]
#: A memory written while the index is broken, and a question that names it.
NEW = "The kayak is kept in the boathouse by the lake"
NEW_QUESTION = "where is the kayak kept?"
HEALING = "langmem_mcp.index.healing"


def index_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == HEALING and r.levelno >= logging.WARNING]


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, (
            f"never logged {text!r}: {[r.getMessage() for r in caplog.records]}"
        )
        await asyncio.sleep(0.05)


def overwrite_with_random_bytes(paths: list[Path]) -> dict[str, bytes]:
    """Each file overwritten in place with random bytes of its size (at least 64)."""
    written = {}
    for p in paths:
        garbage = os.urandom(max(p.stat().st_size, 64))
        p.write_bytes(garbage)
        written[p.name if p.parent.name == "chroma" else f"{p.parent.name}/{p.name}"] = garbage
    return written


async def through_chroma(data: Path, namespace: str, question: str) -> list[str] | None:
    """What Chroma itself answers for the question in the namespace (None: no filled collection),
    from a fresh start on the data dir."""
    rt = await Runtime.open(load_settings(data_dir=data, exact_search_max=EXACT_MAX))
    try:
        shared = await rt.index.get()
        assert shared.indexer is not None
        for _ in range(600):  # a namespace that outgrew exact search gets its collection from the worker
            if namespace in shared.indexer.index.filled():
                break
            await asyncio.sleep(0.05)
        vector = (await asyncio.to_thread(shared.embedder.embed, [question]))[0]
        hits = await asyncio.to_thread(shared.query, vector, namespace, 5)
        return None if hits is None else [h.id for h in hits]
    finally:
        await rt.close()


async def test_every_chroma_file_overwritten_with_random_bytes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    async with memory_session(data, **SMALL_ENV) as s:
        big = [(await call(s, "manage_memory", content=n, namespace=["big"]))["id"] for n in NOTES]
        small = (await call(s, "manage_memory", content="Uses a split keyboard", namespace=["small"]))["id"]
    assert (await through_chroma(data, "big", QUESTIONS[0]) or [])[:1] == [big[ANSWER[0]]]

    files = sorted(p for p in (data / "chroma").rglob("*") if p.is_file())
    assert any(p.name == "chroma.sqlite3" for p in files) and len(files) > 1
    garbage = overwrite_with_random_bytes(files)

    caplog.set_level(logging.INFO, logger=HEALING)
    async with memory_session(data, **SMALL_ENV) as s:
        for q, a in zip(QUESTIONS, ANSWER, strict=True):
            hits = (await call(s, "search_memory", query=q, namespace=["big"], limit=3))["memories"]
            assert hits[0]["id"] == big[a], (q, [h["content"] for h in hits])
        new_big = await call(s, "manage_memory", content=NEW, namespace=["big"])
        new_small = await call(s, "manage_memory", content="Drinks oat milk", namespace=["small"])
        assert new_big["action"] == new_small["action"] == "created"
        hits = (await call(s, "search_memory", query=NEW_QUESTION, namespace=["big"]))["memories"]
        assert hits[0]["id"] == new_big["id"]
        hits = (await call(s, "search_memory", query="what keyboard?", namespace=["small"]))["memories"]
        assert hits[0]["id"] == small
        hits = (await call(s, "search_memory", query="what milk do they drink", namespace=["small"]))[
            "memories"
        ]
        assert hits[0]["id"] == new_small["id"]
        await wait_for_log(caplog, "rebuilt from SQLite: 1 large namespaces refilled")

    [warning] = index_warnings(caplog)
    assert "could not" not in warning and "file is not a database" in warning
    assert "moved it aside to" in warning and "no memory is lost" in warning
    # kept, not deleted: the broken directory as it was, named with the time
    [kept] = [p for p in data.iterdir() if p.name.startswith("chroma.broken-")]
    assert overwrite_kept(kept) == garbage

    # the next start finds a healed index: Chroma answers for the large namespace, with the new memory
    caplog.clear()
    assert (await through_chroma(data, "big", NEW_QUESTION) or [])[:1] == [new_big["id"]]
    assert (await through_chroma(data, "big", QUESTIONS[1]) or [])[:1] == [big[ANSWER[1]]]
    assert index_warnings(caplog) == []


def overwrite_kept(kept: Path) -> dict[str, bytes]:
    return {
        p.name if p.parent == kept else f"{p.parent.name}/{p.name}": p.read_bytes()
        for p in kept.rglob("*")
        if p.is_file()
    }


async def large_namespace(data: Path, n: int) -> list[str]:
    """n memories in namespace "big", enough for Chroma to persist its HNSW graph in segment files."""
    settings = load_settings(data_dir=data, exact_search_max=EXACT_MAX)
    rt = await Runtime.open(settings)
    try:
        svc = Services.build(rt).memories
        notes = [
            *NOTES,
            *(f"filler note {i} about nothing in particular" for i in range(n - len(NOTES))),
        ]
        made = await svc.create_many([NewItem(t, ["big"]) for t in notes])
        await wait_filled(rt, "big", timeout=30)  # the worker fills the collection
        await wait_indexed(rt)  # and has put every vector in it: nothing is left pending
        return [m.id for m in made]
    finally:
        await rt.close()


async def test_hnsw_segments_corrupt_found_on_the_first_search(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Chroma opens fine and fails only when the collection's graph is read: the search that meets
    it still answers (exactly), and the index is rebuilt behind it."""
    data = tmp_path / "data"
    ids = await large_namespace(data, 1200)
    segments = sorted(p for p in (data / "chroma").rglob("*") if p.is_file() and p.parent.name != "chroma")
    assert any(p.name == "index_metadata.pickle" for p in segments)  # the graph is on disk
    overwrite_with_random_bytes(segments)

    caplog.set_level(logging.INFO, logger=HEALING)
    async with memory_session(data, **SMALL_ENV) as s:
        # The search that meets the broken graph is answered exactly: its answer comes first.
        hits = (await call(s, "search_memory", query=QUESTIONS[0], namespace=["big"], limit=3))["memories"]
        assert hits[0]["id"] == ids[ANSWER[0]]
        # The next ones may already go through the rebuilt collection, which is approximate: a
        # freshly refilled Chroma collection now and then does not return a record it holds
        # (chroma-core/chroma#7758), and the record then has only its keyword rank. Each answer
        # is among the hits.
        for q, a in zip(QUESTIONS[1:], ANSWER[1:], strict=True):
            hits = (await call(s, "search_memory", query=q, namespace=["big"], limit=3))["memories"]
            assert ids[a] in [h["id"] for h in hits], q
        made = await call(s, "manage_memory", content=NEW, namespace=["big"])
        await wait_for_log(caplog, "rebuilt from SQLite: 1 large namespaces refilled")
        hits = (await call(s, "search_memory", query=NEW_QUESTION, namespace=["big"], limit=3))["memories"]
        assert made["id"] in [h["id"] for h in hits]
    [warning] = index_warnings(caplog)
    assert "while searching" in warning and "moved it aside to" in warning
    caplog.clear()
    assert ids[ANSWER[2]] in (await through_chroma(data, "big", QUESTIONS[2]) or [])
    assert index_warnings(caplog) == []


# -- a Chroma server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chroma_server(path: Path, port: int) -> Iterator[None]:
    """`chroma run` (from the chromadb package) on loopback, stopped on exit."""
    chroma = Path(sys.executable).with_name("chroma")
    log = open(path.parent / f"chroma-{port}.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (path.parent / f"chroma-{port}.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "chroma run did not start"
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


class _Fails(http.server.BaseHTTPRequestHandler):
    def _fail(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "InternalError", "message": "disk I/O error"}')

    do_GET = do_POST = do_PUT = do_DELETE = _fail

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def failing_server(port: int) -> Iterator[None]:
    """An HTTP server that answers every request with 500, where Chroma was."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Fails)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def collection_ids(port: int) -> set[str]:
    import chromadb

    from langmem_mcp.index.chroma import collection_name

    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    try:
        got = client.get_collection(collection_name("memories")).get(include=[])["ids"]
        return set(got)
    finally:
        client.close()


@pytest.mark.process
async def test_chroma_server_down_then_failing_then_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every namespace on the server (exact max 0). Down at start, then answering 500: writes and
    searches work from SQLite with clear log lines; back, its collection is refilled from SQLite."""
    monkeypatch.setattr(healing, "RETRY_SECONDS", 0.3)  # try the server again quickly
    port = free_port()
    chroma_dir = tmp_path / "chroma-server"
    env = {"LANGMEM_MCP_CHROMA_URL": f"http://127.0.0.1:{port}", "LANGMEM_MCP_EXACT_SEARCH_MAX": "0"}
    caplog.set_level(logging.INFO, logger=HEALING)
    async with memory_session(tmp_path / "data", **env) as s:
        # down at start: nothing listens on the port
        made = [(await call(s, "manage_memory", content=n))["id"] for n in NOTES[:6]]
        hits = (await call(s, "search_memory", query=QUESTIONS[1], limit=3))["memories"]
        assert hits[0]["id"] == made[ANSWER[1]]
        [warning] = index_warnings(caplog)
        assert f"http://127.0.0.1:{port}" in warning and "trying again every" in warning
        assert "no memory is lost" in warning

        with chroma_server(chroma_dir, port):  # up: refilled from SQLite
            await wait_for_log(caplog, "rebuilt from SQLite: 1 large namespaces refilled")
            assert collection_ids(port) == set(made)
        caplog.clear()

        with failing_server(port):  # answering 500
            more = [(await call(s, "manage_memory", content=n))["id"] for n in NOTES[6:]]
            for q, a in zip(QUESTIONS, ANSWER, strict=True):
                hits = (await call(s, "search_memory", query=q, limit=3))["memories"]
                assert hits[0]["id"] == [*made, *more][a], q
            await wait_for_log(caplog, "trying again every")
        [warning] = index_warnings(caplog)
        assert "disk I/O error" in warning and "trying again every" in warning

        with chroma_server(chroma_dir, port):  # back, with what it had: the new vectors are added
            await wait_for_log(caplog, "rebuilt from SQLite: 1 large namespaces refilled")
            assert collection_ids(port) == {*made, *more}
            hits = (await call(s, "search_memory", query=QUESTIONS[1]))["memories"]
            assert hits[0]["id"] == made[ANSWER[1]]


# -- doctor --repair ------------------------------------------------------------------------------
def doctor(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_MCP_", "ANTHROPIC_"))}
    env.update(HOME=str(data.parent), PYTHONPATH=str(REPO), **SMALL_ENV)
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "doctor", "--data-dir", str(data), *args],
        env=env,
        cwd=data.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.process
async def test_doctor_repair_rebuilds_an_unreadable_index(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with memory_session(data, **SMALL_ENV) as s:
        big = [(await call(s, "manage_memory", content=n, namespace=["big"]))["id"] for n in NOTES]
    assert (await through_chroma(data, "big", QUESTIONS[0]) or [])[:1] == [big[ANSWER[0]]]
    overwrite_with_random_bytes([p for p in (data / "chroma").rglob("*") if p.is_file()])

    found = doctor(data)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "[FAIL] index: cannot open the vector index" in found.stdout
    assert "`langmem-mcp doctor --repair` rebuilds it" in found.stdout

    repaired = doctor(data, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    [kept] = [p for p in data.iterdir() if p.name.startswith("chroma.broken-")]
    assert f"[  ok] repair: moved the unreadable index aside to {kept} (kept); " in repaired.stdout
    assert f"rebuilt 1 large namespaces ({len(NOTES)} vectors) from SQLite" in repaired.stdout

    again = doctor(data)
    assert again.returncode == 0, again.stdout
    assert (
        f"1 namespaces over {EXACT_MAX} memories in Chroma ({len(NOTES)} vectors), consistent" in again.stdout
    )
    assert (await through_chroma(data, "big", QUESTIONS[0]) or [])[:1] == [big[ANSWER[0]]]


@pytest.mark.process
async def test_doctor_repair_asks_the_running_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server on the data dir owns the index: doctor asks it to rebuild, and it does, while it
    keeps serving."""
    data = tmp_path / "data"
    caplog.set_level(logging.INFO, logger="langmem_mcp.index")
    async with memory_session(data, **SMALL_ENV) as s:
        big = [(await call(s, "manage_memory", content=n, namespace=["big"]))["id"] for n in NOTES]
        await wait_for_log(caplog, "outgrew exact search")  # this server owns the filled index
        await wait_indexed_dir(data)  # every memory is in Chroma now
        # a memory removed behind the index's back: its vector in Chroma is a stray
        with sqlite3.connect(data / "memory.sqlite3") as conn:
            conn.execute("DELETE FROM memories WHERE id = ?", (big[-1],))
        res = await asyncio.to_thread(doctor, data, "--repair")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "[warn] index: " in res.stdout and "1 vectors without a memory" in res.stdout
        assert f"[  ok] repair: asked the running server (pid {os.getpid()}) to mend the index" in res.stdout
        await wait_for_log(caplog, "rebuilt from SQLite: 1 large namespaces refilled")
        hits = (await call(s, "search_memory", query=QUESTIONS[3], namespace=["big"]))["memories"]
        assert hits[0]["id"] == big[ANSWER[3]]
    again = await asyncio.to_thread(doctor, data)
    assert again.returncode == 0 and f"({len(NOTES) - 1} vectors), consistent with SQLite" in again.stdout


def test_a_closing_owner_hangs_up_on_its_followers(tmp_path: Path) -> None:
    """An owner that closes ends the connections of its followers (their serving threads end), so
    a follower's next call finds no owner, and may take over, instead of being answered by a
    closed index."""
    from langmem_mcp.index.owner import OwnerClient, OwnerServer, RemoteUnavailable

    def serving() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "langmem-owner-conn"]

    server = OwnerServer(tmp_path, lambda op, args: (op, *args))
    followers = [OwnerClient(tmp_path) for _ in range(2)]
    try:
        assert [f.call("query", i) for i, f in enumerate(followers)] == [("query", 0), ("query", 1)]
        assert len(serving()) == 2
        server.close()
        deadline = time.monotonic() + 5
        while serving() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert serving() == []
        for follower in followers:
            with pytest.raises(RemoteUnavailable):
                follower.call("query", 2)
    finally:
        server.close()
        for follower in followers:
            follower.close()
