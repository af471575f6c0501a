"""Export, import and backup through the real CLI, checked through real MCP stdio sessions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError
from langmem_mcp.service import transfer
from langmem_mcp.service.container import open_services
from langmem_mcp.service.memories import NewItem
from tests.mcp_client import call, memory_session, read_json, server_env

NO_LLM = {"ANTHROPIC_API_KEY": "", "LANGMEM_MCP_ANTHROPIC_API_KEY": ""}
PROFILE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
}
MEMORIES: list[dict[str, Any]] = [
    {"content": "The user prefers tabs over spaces in Python code", "namespace": ["memories"]},
    {
        "content": "Deploys to production happen on Tuesdays after the standup",
        "namespace": ["memories", "project-x"],
        "metadata": {"kind": "process", "year": 2024},
        "importance": 0.9,
    },
    {
        "content": "Project X uses PostgreSQL 16 with the pgvector extension",
        "namespace": ["memories", "project-x"],
        "metadata": {"kind": "fact", "tags": ["db", "infra"]},
        "importance": 0.7,
    },
    {
        "content": "The staging database for project X is rebuilt every night at 2am",
        "namespace": ["memories", "project-x"],
        "metadata": {"kind": "fact"},
    },
    {
        "content": "My sister Ana lives in Lisbon and works as an architect",
        "namespace": ["memories", "personal"],
        "metadata": {"kind": "family", "nested": {"a": [1, 2, {"b": None}]}},
        "importance": 0.2,
    },
    {
        "content": "The user is allergic to peanuts; avoid recipes with them",
        "namespace": ["memories", "personal"],
        "importance": 1.0,
    },
    {
        "content": "Café orders: a flat white with oat milk, no sugar ☕",
        "namespace": ["memories", "personal"],
        "metadata": {"kind": "preference"},
    },
    {
        "content": "Project Y is written in Rust and built with cargo nextest in CI",
        "namespace": ["work", "project-y"],
        "metadata": {"kind": "fact"},
    },
    {
        "content": "The database migration for project Y is blocked on a schema review",
        "namespace": ["work", "project-y"],
        "importance": 0.6,
    },
]
QUERIES: list[tuple[str, list[str]]] = [
    ("database", ["memories", "project-x"]),
    ("project X deploys production", ["memories", "project-x"]),
    ("family in Lisbon", ["memories", "personal"]),
    ("coffee order", ["memories", "personal"]),
    ("tabs or spaces", ["memories"]),
    ("what is blocked on review", ["work", "project-y"]),
    ("database", ["work", "project-y"]),
]


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m langmem_mcp --data-dir DATA_DIR ARGS` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "--data-dir", str(data_dir), *args],
        env=server_env(data_dir, **NO_LLM),
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_export(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def comparable(hits: list[dict[str, Any]]) -> list[list[tuple[Any, ...]]]:
    """Search hits without their ids (import assigns new ones), grouped by equal score: within a
    tie the order depends on the ids, so a tie is compared as a set."""
    groups: list[list[tuple[Any, ...]]] = []
    last: float | None = None
    for h in hits:
        key = (
            tuple(h["namespace"]),
            h["content"],
            json.dumps(h["metadata"], sort_keys=True),
            h["importance"],
            h["created_at"],
            h["updated_at"],
            round(h["score"], 5),
        )
        if last is None or abs(h["score"] - last) > 1e-9:
            groups.append([])
        groups[-1].append(key)
        last = h["score"]
    return [sorted(g) for g in groups]


async def search(s: ClientSession, query: str, namespace: list[str], **kw: Any) -> list[dict[str, Any]]:
    return (await call(s, "search_memory", query=query, namespace=namespace, limit=20, **kw))["memories"]


async def stats(s: ClientSession) -> dict[str, int]:
    body = await read_json(s, "memory://stats")
    return {"/".join(n["namespace"]): n["count"] for n in body["namespaces"]}


async def service_view(s: ClientSession, uid: str, tid: str, fid: str) -> dict[str, Any]:
    """What the service model shows for a user and a thread, without volatile fields."""
    users = await read_json(s, "langmem://users")
    messages = await read_json(s, f"langmem://threads/{tid}/messages")
    functions = await read_json(s, "langmem://memory-functions")
    recalled = await call(s, "query_user_memory", user_id=uid, text="basketball", states_to_return=[fid])
    return {
        "users": sorted((u["id"], u.get("name"), json.dumps(u.get("metadata"))) for u in users["users"]),
        "thread": await read_json(s, f"langmem://threads/{tid}"),
        "messages": [(m["role"], m["content"]) for m in messages["messages"]],
        "functions": sorted((f["id"], f["type"], f["status"]) for f in functions["memory_functions"]),
        "state": (await read_json(s, f"langmem://threads/{tid}/state?key=step"))["state"],
        "profile": (await read_json(s, f"langmem://users/{uid}/memory/{fid}"))["state"],
        "recalled": sorted(m["text"] for m in recalled["memories"]),
    }


async def fill(s: ClientSession) -> tuple[str, str, str]:
    """Memories in several namespaces, plus users, a thread, messages, formed memories, a memory
    function, a profile and a thread state. Returns (user id, thread id, function id)."""
    for m in MEMORIES:
        res = await call(s, "manage_memory", **m)
        assert res["action"] == "created"
    uid = str(uuid.uuid4())
    await call(s, "manage_user", user_id=uid, name="Bo", tags=["vip"], metadata={"tier": 2})
    await call(s, "manage_user", name="Ana")
    messages = [
        {"role": "user", "content": "Hi, I love playing basketball!", "metadata": {"user_id": uid}},
        {"role": "assistant", "content": "Do you have a favorite player?"},
        {"role": "user", "content": "Yeah, Steph Curry is amazing!", "metadata": {"user_id": uid}},
    ]
    tid = (await call(s, "add_messages", messages=messages, thread_metadata={"app": "test"}))["thread_id"]
    formed = await call(s, "trigger_formation", thread_id=tid)
    assert formed["memories_formed"] >= 1, formed
    fid = (await call(s, "manage_memory_function", type="user_state", schema=PROFILE, name="profile"))["id"]
    await call(
        s, "manage_user_memory", user_id=uid, memory_function_id=fid, state={"name": "Bo", "city": "Oslo"}
    )
    await call(s, "set_thread_state", thread_id=tid, state={"step": 3}, key="step")
    return uid, tid, fid


async def test_export_then_import_into_an_empty_dir_gives_the_same_results(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "all.jsonl"
    async with memory_session(a, **NO_LLM) as s:
        uid, tid, fid = await fill(s)
        # exported while the server runs: a consistent snapshot
        done = await asyncio.to_thread(cli, a, "export", str(out))
        assert done.returncode == 0, done.stderr
        assert "exported" in done.stderr and "memories" in done.stderr

    records = read_export(out)
    assert records[0]["table"] == "_export" and records[0]["format"] == "langmem-mcp-export"
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_table.setdefault(r["table"], []).append(r)
    for table in ("memories", "svc_users", "svc_threads", "svc_messages", "svc_functions", "svc_states"):
        assert by_table.get(table), f"no {table} records in the export: {sorted(by_table)}"
    assert not {"memories_fts", "index_tombstones", "memory_vectors", "meta"} & set(by_table)
    mem = {r["content"]: r for r in by_table["memories"]}
    assert len(mem) >= len(MEMORIES) + 1  # and the formed ones
    ana = mem[MEMORIES[4]["content"]]
    assert ana["namespace"] == ["memories", "personal"]
    assert ana["metadata"] == MEMORIES[4]["metadata"] and ana["importance"] == 0.2
    assert {u["id"] for u in by_table["svc_users"]} >= {uid}
    assert len(by_table["svc_messages"]) == 3

    b.mkdir()
    done = cli(b, "import", str(out))
    assert done.returncode == 0, done.stderr
    assert f"imported {len(by_table['memories'])} memories (0 already there)" in done.stderr
    again = cli(b, "import", "--quiet", str(out))
    assert again.returncode == 0, again.stderr
    assert f"imported 0 memories ({len(by_table['memories'])} already there)" in again.stderr

    async with memory_session(a, **NO_LLM) as sa, memory_session(b, **NO_LLM) as sb:
        assert await stats(sb) == await stats(sa)
        for query, ns in [*QUERIES, ("favorite basketball player", ["users", uid])]:
            hits_a, hits_b = await search(sa, query, ns), await search(sb, query, ns)
            assert hits_a, query
            assert comparable(hits_b) == comparable(hits_a), query
            assert {h["id"] for h in hits_a}.isdisjoint(h["id"] for h in hits_b)
        flt = {"kind": "fact"}
        ns = ["memories", "project-x"]
        filtered = await search(sa, "project", ns, filter=flt)
        assert len(filtered) == 2 and comparable(await search(sb, "project", ns, filter=flt)) == comparable(
            filtered
        )
        view_a, view_b = await service_view(sa, uid, tid, fid), await service_view(sb, uid, tid, fid)
        assert view_b == view_a
        assert view_b["profile"] == {"name": "Bo", "city": "Oslo"} and view_b["state"] == {"step": 3}
        assert "Yeah, Steph Curry is amazing!" in view_b["recalled"]
        # the imported data dir keeps working: formation there is idempotent too
        runs = [await call(x, "trigger_formation", thread_id=tid) for x in (sa, sb)]
        kinds = [sorted((r["type"], r["status"]) for r in run["runs"]) for run in runs]
        assert runs[1]["memories_formed"] == 0 and kinds[1] == kinds[0], runs
        assert ("user_semantic_memory", "up_to_date") in kinds[1]


async def import_refused(data_dir: Path, path: Path) -> str:
    """The error `langmem-mcp import PATH` stops with, from the import it runs (transfer.import_file
    on the data dir's services), here in this process: the command prints a LangmemError's message
    and exits 1; any other exception would be a traceback."""
    async with open_services(Settings(data_dir=data_dir, llm="none")) as services:
        with pytest.raises(LangmemError) as refused:
            await transfer.import_file(services, path)
    return str(refused.value)


async def test_plain_lines_import_and_bad_lines_are_named(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    plain = tmp_path / "plain.jsonl"
    lines = [
        {"content": "Plain line one: the garage code is 4471", "namespace": ["memories", "home"]},
        {
            "content": "Plain line two: the boiler was serviced in March",
            "namespace": ["memories", "home"],
            "metadata": {"kind": "maintenance"},
            "importance": 0.8,
        },
        {"content": "Plain line three: no namespace means the default one", "metadata": {"n": 3}},
    ]
    plain.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    done = cli(d, "import", str(plain))
    assert done.returncode == 0, done.stderr
    assert "imported 3 memories (0 already there)" in done.stderr
    again = cli(d, "import", str(plain))
    assert again.returncode == 0 and "imported 0 memories (3 already there)" in again.stderr

    good_then_bad = [json.dumps({"content": "Written before the bad line, then rolled back?"})]
    bad_files = {
        "json": (good_then_bad + ['{"content": "unterminated'], 2, "not JSON"),
        "content": (good_then_bad + [json.dumps({"namespace": ["memories"], "metadata": {}})], 2, "content"),
        "namespace": (
            good_then_bad + ["", json.dumps({"content": "x", "namespace": ["memories", ""]})],
            3,
            "namespace",
        ),
        "namespace type": (good_then_bad + [json.dumps({"content": "x", "namespace": 7})], 2, "namespace"),
        "importance": (good_then_bad + [json.dumps({"content": "x", "importance": 3})], 2, "importance"),
        "not an object": (good_then_bad + ["[1, 2]"], 2, "JSON object"),
        "time": (good_then_bad + [json.dumps({"content": "x", "updated_at": "yesterday"})], 2, "ISO 8601"),
        "table": (good_then_bad + [json.dumps({"table": "nope", "id": 1})], 2, "no table 'nope'"),
        "newer": (
            [json.dumps({"table": "_export", "schema_version": 999}), *good_then_bad],
            1,
            "newer langmem-mcp",
        ),
        "table type": (good_then_bad + [json.dumps({"table": ["memories"], "content": "x"})], 2, "table"),
    }
    for name, (body, line_no, word) in bad_files.items():
        bad = tmp_path / f"bad-{name.replace(' ', '-')}.jsonl"
        bad.write_text("\n".join(body) + "\n", encoding="utf-8")
        if name in ("json", "newer"):  # the command itself: status 1, the message, no traceback
            res = cli(d, "import", "--quiet", str(bad))
            assert res.returncode == 1, (name, res.stderr)
            assert "Traceback" not in res.stderr, res.stderr
            message = res.stderr
        else:  # what the command reports, from the import it runs, in this process
            message = await import_refused(d, bad)
        assert f"{bad}:{line_no}:" in message, (name, message)
        assert word in message, (name, message)
    missing = cli(d, "import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "is not a file" in missing.stderr

    async with memory_session(d, **NO_LLM) as s:
        # nothing imported before is lost, and a file with a bad line imports nothing
        assert await stats(s) == {"memories/home": 2, "memories": 1}
        hits = await search(s, "boiler serviced", ["memories", "home"])
        assert hits[0]["content"] == lines[1]["content"]
        assert hits[0]["metadata"] == {"kind": "maintenance"} and hits[0]["importance"] == 0.8
        hits = await search(s, "garage code", ["memories", "home"])
        assert [h["content"] for h in hits].count(lines[0]["content"]) == 1
        hits = await search(s, "default namespace", ["memories"])
        assert hits[0]["namespace"] == ["memories"] and hits[0]["metadata"] == {"n": 3}


async def test_backup_while_a_server_writes(tmp_path: Path) -> None:
    a, dest = tmp_path / "a", tmp_path / "backup"
    async with memory_session(a, **NO_LLM) as s:
        for i in range(20):
            await call(
                s, "manage_memory", content=f"backup fact {i}: the kiln {i} fires at {900 + i} degrees"
            )
        acked: list[str] = []
        stop = asyncio.Event()

        async def writer() -> None:
            i = 0
            while not stop.is_set():
                text = f"written during the backup {i}: the heron counted {i} fish"
                await call(s, "manage_memory", content=text, namespace=["memories", "live"])
                acked.append(text)
                i += 1

        task = asyncio.create_task(writer())
        while len(acked) < 3:
            await asyncio.sleep(0.05)
        before = len(acked)
        done = await asyncio.to_thread(cli, a, "backup", str(dest))
        stop.set()
        await task
        assert done.returncode == 0, done.stderr
        assert "backed up" in done.stderr and "no re-embedding needed" in done.stderr
        copied = int(done.stderr.split("backed up ")[1].split()[0])
        assert 20 + before <= copied <= 20 + len(acked)

    again = cli(a, "backup", str(dest))
    assert again.returncode == 1 and "is not empty" in again.stderr

    async with memory_session(dest, **NO_LLM) as s:
        counts = await stats(s)
        assert counts["memories"] == 20 and before <= counts["memories/live"] == copied - 20
        deadline = time.monotonic() + 60
        while True:  # the vector index is rebuilt on first start: wait for meaning search
            # no word in common with the memories: only the rebuilt vector index can find them
            hits = await search(s, "pottery oven temperature", ["memories"])
            kiln = [h for h in hits if "kiln" in h["content"]]
            if len(kiln) >= 10 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert len(kiln) >= 10, hits
        hits = await search(s, "kiln 7 fires", ["memories"])
        assert hits[0]["content"] == "backup fact 7: the kiln 7 fires at 907 degrees"
        live = await search(s, "a wading bird catching its prey", ["memories", "live"])
        assert len(live) == min(counts["memories/live"], 20) and all(h["content"] in acked for h in live)


async def test_import_merges_into_a_data_dir_in_use(tmp_path: Path) -> None:
    a, c, out = tmp_path / "a", tmp_path / "c", tmp_path / "a.jsonl"

    def said(who: str) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": f"{who} played chess game {i}", "metadata": {"user_id": who}}
            for i in range(3)
        ]

    async with memory_session(a, **NO_LLM) as s:
        ta = (await call(s, "add_messages", messages=said("alice")))["thread_id"]
        assert (await call(s, "trigger_formation", thread_id=ta))["memories_formed"] >= 1
    async with memory_session(c, **NO_LLM) as s:
        tc = (await call(s, "add_messages", messages=said("carol")))["thread_id"]
    assert cli(a, "export", str(out)).returncode == 0
    done = cli(c, "import", "--quiet", str(out))
    assert done.returncode == 0 and "3 svc_messages" in done.stderr, done.stderr
    ghost = tmp_path / "ghost.jsonl"
    message = next(r for r in read_export(out) if r["table"] == "svc_messages")
    ghost.write_text(
        json.dumps({"content": "a memory in a file whose other rows are broken"})
        + "\n"
        + json.dumps({**message, "thread_id": "no-such-thread", "id": "m-ghost"})
        + "\n",
        encoding="utf-8",
    )
    broken = cli(c, "import", "--quiet", str(ghost))
    assert broken.returncode == 1 and "neither in the file nor in this data dir" in broken.stderr, (
        broken.stderr
    )

    async with memory_session(c, **NO_LLM) as s:
        for tid, who in ((ta, "alice"), (tc, "carol")):
            page = await read_json(s, f"langmem://threads/{tid}/messages")
            assert [m["content"] for m in page["messages"]] == [
                f"{who} played chess game {i}" for i in range(3)
            ]
        # alice's watermark now points at her messages' numbers here: nothing forms twice
        again = await call(s, "trigger_formation", thread_id=ta)
        assert [r["status"] for r in again["runs"]] == ["up_to_date"], again
        assert (await call(s, "trigger_formation", thread_id=tc))["memories_formed"] >= 1
        assert "memories" not in await stats(s)  # the broken file wrote nothing


@pytest.mark.process
async def test_export_into_a_pipe_closed_early_stops_quietly(tmp_path: Path) -> None:
    """`langmem-mcp export | head -c 100`: the reader leaves; the export stops without a traceback."""
    data = tmp_path / "data"
    async with open_services(Settings(data_dir=data, llm="none")) as svc:
        await svc.memories.create_many([NewItem(f"note {i} " + "x" * 200, ["bulk"]) for i in range(400)])
    export = subprocess.Popen(
        [sys.executable, "-m", "langmem_mcp", "--data-dir", str(data), "export"],
        env=server_env(data, **NO_LLM),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None and export.stderr is not None
    head = export.stdout.read(100)
    export.stdout.close()  # what `head` does once it has its bytes
    err = export.stderr.read().decode()
    assert export.wait(timeout=60) == 1
    assert head.startswith(b'{"table": "_export"') and "Traceback" not in err and "BrokenPipe" not in err, err
