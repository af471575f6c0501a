"""Memory that stays true, through a real MCP client: the same text is not stored twice, similar
memories are pointed out, corrections keep history, supersede keeps what was true before, time
filters, the namespace hint, and delete forgets everything."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.shared.exceptions import MCPError

from langmem_mcp.config import load_settings
from langmem_mcp.index import shared
from langmem_mcp.service import transfer
from langmem_mcp.service.container import Services
from langmem_mcp.service.runtime import Runtime
from langmem_mcp.store.sqlite import MIGRATIONS, SCHEMA_VERSION, _statements, sha256_hex
from tests.indexing import wait_filled, wait_indexed
from tests.mcp_client import call, call_error, memory_session, read_json, server_env


def now() -> str:
    return datetime.now(UTC).isoformat()


async def search(s: ClientSession, query: str, **kw: object) -> list[dict]:
    return (await call(s, "search_memory", query=query, **kw))["memories"]


async def test_the_same_text_after_normalising_is_not_stored_again(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        first = await call(s, "manage_memory", content="The user prefers tabs over spaces.")
        for same in ("the user PREFERS tabs   over spaces", "  The user prefers tabs over\tspaces!!  "):
            again = await call(s, "manage_memory", content=same)
            assert again == {"action": "exists", "id": first["id"]}
        other = await call(s, "manage_memory", content="The user prefers tabs over spaces, mostly")
        assert other["action"] == "created"
        elsewhere = await call(
            s, "manage_memory", content="the user prefers tabs over spaces", namespace=["w"]
        )
        assert elsewhere["action"] == "created"
        assert (await read_json(s, "memory://stats"))["total"] == 3
        item = await read_json(s, f"memory://item/memories/{first['id']}")
        assert item["content"] == "The user prefers tabs over spaces."  # the first wording is kept


async def test_a_rephrasing_is_created_and_points_at_the_similar_memories(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        peanuts = await call(s, "manage_memory", content="The user is allergic to peanuts")
        unrelated = await call(s, "manage_memory", content="Project X ships on Friday after the standup")
        assert set(unrelated) == {"action", "id"}  # nothing similar: no "similar" key at all
        again = await call(s, "manage_memory", content="The user has a peanut allergy")
        assert again["action"] == "created" and again["id"] != peanuts["id"]
        [hint] = again["similar"]
        assert hint["id"] == peanuts["id"] and hint["content"] == "The user is allergic to peanuts"
        assert 0.6 <= hint["similarity"] < 1.0
        # at most three, best first; the new memory itself is never among them
        for text in ("The user cannot eat peanuts", "Peanuts give the user an allergic reaction"):
            await call(s, "manage_memory", content=text)
        last = await call(s, "manage_memory", content="The user is allergic to peanuts and peanut butter")
        scores = [h["similarity"] for h in last["similar"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert last["id"] not in {h["id"] for h in last["similar"]}
        assert unrelated["id"] not in {h["id"] for h in last["similar"]}
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert "supersede it" in tools["manage_memory"].description
        assert "similar" in json.dumps(tools["manage_memory"].output_schema)

    async with memory_session(tmp_path / "off", LANGMEM_MCP_SIMILAR_THRESHOLD="0") as s:
        await call(s, "manage_memory", content="The user is allergic to peanuts")
        again = await call(s, "manage_memory", content="The user has a peanut allergy")
        assert set(again) == {"action", "id"}  # the check is off


async def test_boston_to_denver(tmp_path: Path) -> None:
    """The worked example of the README: a fact that changed."""
    async with memory_session(tmp_path) as s:
        boston = (await call(s, "manage_memory", content="The user lives in Boston"))["id"]
        await call(s, "manage_memory", content="The user's sister Ana lives in Lisbon")
        await call(s, "manage_memory", content="The user works as a data engineer")
        before = now()
        moved = await call(
            s,
            "manage_memory",
            action="supersede",
            id=boston,
            content="The user lives in Denver, having moved from Boston",
        )
        denver = moved["id"]
        assert moved == {"action": "superseded", "id": denver, "superseded": boston}
        after = now()

        hits = await search(s, "where does the user live?")
        assert hits[0]["id"] == denver
        assert boston not in {h["id"] for h in hits}
        assert "valid_to" not in hits[0] and "superseded_by" not in hits[0]
        assert hits[0]["valid_from"] == hits[0]["created_at"]

        every = {h["id"]: h for h in await search(s, "where does the user live?", include_superseded=True)}
        assert every[boston]["superseded_by"] == denver
        assert every[boston]["valid_to"] == every[denver]["valid_from"]
        assert before < every[boston]["valid_to"] < after
        assert "valid_to" not in every[denver]

        then = [h["id"] for h in await search(s, "where does the user live?", as_of=before)]
        assert boston in then and denver not in then
        today = [h["id"] for h in await search(s, "where does the user live?", as_of=after)]
        assert denver in today and boston not in today
        long_ago = await call(s, "search_memory", query="where does the user live?", as_of="2001-01-01")
        assert long_ago["memories"] == [] and "note" not in long_ago  # the namespace is not empty

        item = await read_json(s, f"memory://item/memories/{boston}")
        assert item["content"] == "The user lives in Boston" and item["superseded_by"] == denver
        history = await read_json(s, f"memory://history/memories/{boston}")
        assert [v["change"] for v in history["versions"]] == ["created", "superseded"]
        assert history["versions"][0]["valid_to"] is None
        assert history["versions"][1]["valid_to"] == item["valid_to"] == history["versions"][1]["changed_at"]
        assert history["superseded_by"] == denver
        assert (await read_json(s, f"memory://history/memories/{denver}"))["supersedes"] == [boston]

        msg = await call_error(s, "manage_memory", action="supersede", id=boston, content="Lives in Austin")
        assert "already superseded" in msg and denver in msg
        msg = await call_error(
            s,
            "manage_memory",
            action="supersede",
            id=denver,
            content="the user lives in denver, having moved from boston!",
        )
        assert "says the same" in msg and "update" in msg
        msg = await call_error(s, "manage_memory", action="supersede", id=denver)
        assert "needs the content" in msg

        # moving back: the old text is history, so it is a new memory, not "exists"
        back = await call(
            s, "manage_memory", action="supersede", id=denver, content="The user lives in Boston"
        )
        assert back["action"] == "superseded" and back["id"] not in (boston, denver)
        assert (await search(s, "where does the user live?"))[0]["id"] == back["id"]
        ns = await read_json(s, "memory://namespaces")
        assert ns["namespaces"] == [{"namespace": ["memories"], "count": 5, "current": 3}]


async def test_supersede_keeps_metadata_unless_given_and_finds_an_existing_text(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        old = await call(
            s,
            "manage_memory",
            content="Deploys run on Tuesdays",
            metadata={"kind": "process"},
            importance=0.8,
        )
        new = await call(
            s, "manage_memory", action="supersede", id=old["id"], content="Deploys run on Thursdays"
        )
        item = await read_json(s, f"memory://item/memories/{new['id']}")
        assert item["metadata"] == {"kind": "process"} and item["importance"] == 0.8
        # superseding with a text the namespace already holds: that memory supersedes
        kept = await call(s, "manage_memory", content="Deploys are frozen in December")
        again = await call(
            s, "manage_memory", action="supersede", id=new["id"], content="deploys are frozen in December."
        )
        assert again == {"action": "superseded", "id": kept["id"], "superseded": new["id"]}


async def test_update_is_a_correction_that_keeps_history(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        made = await call(
            s, "manage_memory", content="The user's sister is called Anna", metadata={"kind": "family"}
        )
        mid = made["id"]
        assert await call(
            s, "manage_memory", action="update", id=mid, content="The user's sister is called Ana"
        ) == {
            "action": "updated",
            "id": mid,
        }
        await call(s, "manage_memory", action="update", id=mid, importance=0.9)
        await call(s, "manage_memory", action="update", id=mid, importance=0.9)  # no change: no new version
        history = await read_json(s, f"memory://history/memories/{mid}")
        versions = history["versions"]
        assert [(v["content"], v["importance"], v["change"]) for v in versions] == [
            ("The user's sister is called Anna", 0.5, "created"),
            ("The user's sister is called Ana", 0.5, "updated"),
            ("The user's sister is called Ana", 0.9, "updated"),
        ]
        assert all(v["metadata"] == {"kind": "family"} and v["valid_to"] is None for v in versions)
        assert versions[0]["changed_at"] <= versions[1]["changed_at"] <= versions[2]["changed_at"]
        item = await read_json(s, f"memory://item/memories/{mid}")
        assert item["updated_at"] == versions[2]["changed_at"] and item["valid_from"] == item["created_at"]
        # the old wording is history, not a memory: search finds the memory by its current text only
        hits = await search(s, "Anna")
        assert [h["content"] for h in hits] == ["The user's sister is called Ana"]
        # a correction into the words of another current memory is refused
        other = await call(s, "manage_memory", content="The user's brother is called Tom")
        msg = await call_error(
            s, "manage_memory", action="update", id=other["id"], content="the user's sister is called ana"
        )
        assert mid in msg and "says the same" in msg


def rows_mentioning(db: Path, needle: str) -> list[tuple[str, object]]:
    """(table, row) of every row of every table whose text holds `needle`."""
    conn = sqlite3.connect(db)
    try:
        found = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if table.startswith("memories_fts"):
                continue  # FTS5's own pages: checked through fts5vocab below
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                if any(isinstance(v, str) and needle in v for v in row):
                    found.append((table, row))
        return found
    finally:
        conn.close()


def fts_terms(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, memories_fts, 'row')")
        return {r[0] for r in conn.execute("SELECT term FROM temp.vocab")}
    finally:
        conn.close()


async def test_delete_forgets_the_memory_and_its_history_everywhere(tmp_path: Path) -> None:
    env = {"LANGMEM_MCP_EXACT_SEARCH_MAX": "0"}  # the namespace also gets a Chroma collection
    async with memory_session(tmp_path, **env) as s:
        keep = await call(s, "manage_memory", content="The user keeps bees on the roof")
        old = await call(s, "manage_memory", content="The user's bank is Zanzibarbank in Quokkaville")
        new = await call(
            s,
            "manage_memory",
            action="supersede",
            id=old["id"],
            content="The user banks with Xylophonia Credit",
        )
        await call(
            s,
            "manage_memory",
            action="update",
            id=new["id"],
            content="The user banks with Xylophonia Credit Union",
        )
        assert len((await read_json(s, f"memory://history/memories/{new['id']}"))["versions"]) == 2
        assert (await search(s, "Xylophonia"))[0]["id"] == new["id"]

        await call(s, "manage_memory", action="delete", id=new["id"])
        await call(s, "manage_memory", action="delete", id=old["id"])
        for query in ("Xylophonia", "Zanzibarbank Quokkaville"):
            found = await search(s, query, include_superseded=True)
            assert [h["id"] for h in found] == [keep["id"]]  # only what was kept is left to find
        for uri in (f"memory://item/memories/{new['id']}", f"memory://history/memories/{new['id']}"):
            with pytest.raises(MCPError, match="no memory"):
                await s.read_resource(uri)
        msg = await call_error(s, "manage_memory", action="update", id=new["id"], content="x")
        assert "no memory" in msg
    db = load_settings(environ={"LANGMEM_MCP_DATA_DIR": str(tmp_path)}).db_path
    for needle in (new["id"], old["id"], "Xylophonia", "Zanzibarbank", "Quokkaville"):
        assert rows_mentioning(db, needle) == [], needle
    terms = fts_terms(db)
    assert {"xylophonia", "zanzibarbank", "quokkavil"} & terms == set()
    assert "bee" in terms  # the FTS vocabulary check sees the memory that remains
    exported = "\n".join(json.dumps(r) for r in transfer.export_records(db))
    assert "Xylophonia" not in exported and new["id"] not in exported and old["id"] not in exported
    assert keep["id"] in exported
    rt = await Runtime.open(load_settings(environ={"LANGMEM_MCP_DATA_DIR": str(tmp_path), **env}))
    try:
        shared = await rt.index.get()
        assert shared.indexer is not None
        in_chroma = await asyncio.to_thread(shared.indexer.index.all_ids)
        assert in_chroma == {"memories": {keep["id"]}}
    finally:
        await rt.close()


async def test_an_empty_namespace_names_the_closest_ones(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        nothing = await call(s, "search_memory", query="anything", namespace=["memoriess"])
        assert nothing == {
            "memories": [],
            "note": 'namespace ["memoriess"] holds no memories; no namespace you can use holds any yet',
        }
        for i in range(3):
            await call(s, "manage_memory", content=f"Fact number {i} about the garden")
        await call(s, "manage_memory", content="Project X uses Postgres", namespace=["work", "project-x"])
        typo = await call(s, "search_memory", query="garden", namespace=["memoriess"])
        assert typo["memories"] == []
        assert typo["note"] == (
            'namespace ["memoriess"] holds no memories; closest: ["memories"] (3), ["work", "project-x"] (1)'
        )
        listing = await read_json(s, "memory://list/memoriess")
        assert listing["memories"] == [] and listing["note"] == typo["note"]
        # a namespace that holds memories, none matching: no note
        miss = await call(s, "search_memory", query="zebra giraffe", namespace=["work", "project-x"])
        assert "note" not in miss
        assert "note" not in await read_json(s, "memory://list/memories")


async def test_time_filters(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        first = (await call(s, "manage_memory", content="Garden note: the tomatoes got blight"))["id"]
        middle = now()
        second = (await call(s, "manage_memory", content="Garden note: the roses bloomed"))["id"]
        q = "garden note"
        assert [h["id"] for h in await search(s, q, created_after=middle)] == [second]
        assert [h["id"] for h in await search(s, q, created_before=middle)] == [first]
        assert {h["id"] for h in await search(s, q, created_after="2000-01-01")} == {first, second}
        assert await search(s, q, created_before="2000-01-01") == []
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        assert await search(s, q, created_after=tomorrow) == []
        # a time with an offset is the same moment in UTC
        shifted = datetime.fromisoformat(middle).astimezone(timezone(timedelta(hours=-5))).isoformat()
        assert [h["id"] for h in await search(s, q, created_after=shifted)] == [second]
        assert [h["id"] for h in await search(s, q, created_before=shifted)] == [first]
        assert [h["id"] for h in await search(s, q, created_after=middle, created_before=now())] == [second]


async def test_bad_dates_are_errors_naming_the_parameter(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        await call(s, "manage_memory", content="Something to search")
        for param, value in (
            ("as_of", "yesterday"),
            ("created_after", "2025-13-01"),
            ("created_before", "01/06/2025"),
            ("as_of", ""),
        ):
            msg = await call_error(s, "search_memory", query="something", **{param: value})
            assert msg.startswith(f"Error executing tool search_memory: {param} "), msg
            assert "2025-06-01" in msg  # says what a good one looks like


async def test_delete_reaches_the_approximate_index(tmp_path: Path) -> None:
    """A namespace with a Chroma collection (exact_search_max=0): the vectors of a memory and of
    the one it superseded are there, and deleting them takes them out."""
    rt = await Runtime.open(
        load_settings(environ={"LANGMEM_MCP_DATA_DIR": str(tmp_path)}, exact_search_max=0)
    )
    try:
        svc = Services.build(rt).memories
        keep = await svc.create("The user keeps bees on the roof", ["m"])
        old = await svc.create("The user's bank is Zanzibarbank", ["m"])
        new = await svc.supersede(old.id, ["m"], "The user banks with Xylophonia Credit")
        index = await wait_filled(rt, "m")
        want = {keep.id, old.id, new.id}
        for _ in range(200):  # the worker fills the collection, then each write reaches it
            if await asyncio.to_thread(index.all_ids) == {"m": want}:
                break
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(index.all_ids) == {"m": want}
        await svc.delete(new.id, ["m"])
        await svc.delete(old.id, ["m"])
        assert await asyncio.to_thread(index.all_ids) == {"m": {keep.id}}
        assert await rt.db.scalar("SELECT COUNT(*) FROM index_tombstones") == 0
        assert await rt.db.scalar("SELECT COUNT(*) FROM memory_history") == 0
    finally:
        await rt.close()


async def test_a_large_namespace_reports_similar_memories_pending_or_in_its_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a namespace searched through Chroma (exact_search_max=0), the similar-memory check of a
    create finds a memory the worker has put in the collection and one it has not reached yet
    (written a moment before): its reads are made while the new text is embedded."""
    rt = await Runtime.open(
        load_settings(environ={"LANGMEM_MCP_DATA_DIR": str(tmp_path)}, exact_search_max=0)
    )
    try:
        svc = Services.build(rt).memories
        old = await svc.create("The user's bank is Zanzibarbank in Quokkaville", ["m"])
        await svc.create("The user keeps bees on the roof", ["m"])
        index = await wait_filled(rt, "m")
        await wait_indexed(rt)  # the worker put every row in the collection before marking it done
        assert old.id in (await asyncio.to_thread(index.all_ids))["m"]
        for name in ("QUIET_SECONDS", "MAX_DEFER_SECONDS", "SWEEP_SECONDS"):  # the worker waits now
            monkeypatch.setattr(shared, name, 3600.0)
        pending = await svc.create("The user plays the bassoon on Sundays", ["m"])
        assert await rt.db.scalar("SELECT indexed != 1 FROM memories WHERE id = ?", (pending.id,))
        bank = await svc.create("The user's bank is Zanzibarbank, in Quokkaville", ["m"])
        music = await svc.create("On Sundays the user plays the bassoon", ["m"])
        assert [h.id for h in bank.similar] == [old.id]  # from the collection
        assert [h.id for h in music.similar] == [pending.id]  # not in it yet
        assert await rt.db.scalar("SELECT indexed != 1 FROM memories WHERE id = ?", (pending.id,))
    finally:
        await rt.close()


def v8_data_dir(data_dir: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A data dir as the previous schema (8) left it: (id, content, created_at, updated_at) rows in
    ["memories"], written as that version wrote them."""
    data_dir.mkdir(parents=True)
    conn = sqlite3.connect(data_dir / "memory.sqlite3", isolation_level=None)
    try:
        conn.execute("BEGIN")
        for script in MIGRATIONS[:8]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 8")
        for mid, content, created, updated in rows:
            conn.execute(
                "INSERT INTO memories (id, namespace, content, metadata, importance, created_at, updated_at,"
                " content_hash, context) VALUES (?, 'memories', ?, '{}', 0.5, ?, ?, ?, '')",
                (mid, content, created, updated, sha256_hex(content)),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return data_dir


async def test_a_data_dir_from_the_previous_schema_is_migrated(tmp_path: Path) -> None:
    boston, tea, tea2 = (str(uuid.uuid4()) for _ in range(3))
    data = v8_data_dir(
        tmp_path / "data",
        [
            (boston, "The user lives in Boston", "2023-05-01T10:00:00Z", "2023-05-01T10:00:00Z"),
            (tea, "The user likes green tea", "2024-01-10T08:00:00+00:00", "2024-03-01T09:00:00+00:00"),
            # two texts that are the same memory now; the old schema kept both
            (tea2, "the user likes green tea.", "2024-02-10T08:00:00+00:00", "2024-02-10T08:00:00+00:00"),
        ],
    )
    async with memory_session(data) as s:
        stats = await read_json(s, "memory://stats")
        assert stats["schema_version"] == SCHEMA_VERSION >= 9 and stats["total"] == 3
        item = await read_json(s, f"memory://item/memories/{boston}")
        # valid from when it was stored; times respelt in the one UTC spelling
        assert item["valid_from"] == item["created_at"] == "2023-05-01T10:00:00+00:00"
        assert "valid_to" not in item
        history = await read_json(s, f"memory://history/memories/{tea}")
        assert history["versions"] == [
            {
                "content": "The user likes green tea",
                "metadata": {},
                "importance": 0.5,
                "valid_from": "2024-01-10T08:00:00+00:00",
                "valid_to": None,
                "changed_at": "2024-03-01T09:00:00+00:00",
                "change": "updated",  # it had been changed; its earlier text was never kept
            }
        ]
        assert (await call(s, "manage_memory", content="the user lives in boston!"))["id"] == boston
        assert (await call(s, "manage_memory", content="The user likes green tea"))["action"] == "exists"
        q = "where does the user live"
        assert await search(s, q, as_of="2023-04-30") == []
        assert [h["id"] for h in await search(s, q, as_of="2023-06-01")] == [boston]
        assert [h["id"] for h in await search(s, "user", created_before="2024-01-01")] == [boston]
        moved = await call(
            s, "manage_memory", action="supersede", id=boston, content="The user lives in Denver"
        )
        assert [h["id"] for h in await search(s, q, as_of="2023-06-01")] == [boston]
        assert (await search(s, q))[0]["id"] == moved["id"]
    conn = sqlite3.connect(data / "memory.sqlite3")
    try:
        assert conn.execute("SELECT COUNT(*) FROM memories WHERE content_key IS NULL").fetchone()[0] == 0
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m langmem_mcp --data-dir DATA_DIR ARGS`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "--data-dir", str(data_dir), *args],
        env=server_env(data_dir, ANTHROPIC_API_KEY=""),
        capture_output=True,
        text=True,
        timeout=120,
    )


def shown(memory: dict, ids: dict[str, str]) -> dict:
    """A memory as the other data dir must show it: its id and superseded_by by their content."""
    out = {k: v for k, v in memory.items() if k not in ("id", "score")}
    if "superseded_by" in out:
        out["superseded_by"] = ids[out["superseded_by"]]
    return out


@pytest.mark.process
async def test_export_and_import_carry_history_and_validity(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    q = "where does the user live"
    async with memory_session(a) as s:
        boston = (await call(s, "manage_memory", content="The user lives in Boston", metadata={"k": 1}))["id"]
        await call(s, "manage_memory", action="update", id=boston, content="The user lives in Boston, MA")
        t1 = now()
        denver = (
            await call(s, "manage_memory", action="supersede", id=boston, content="The user lives in Denver")
        )["id"]
        t2 = now()
        back = (
            await call(s, "manage_memory", action="supersede", id=denver, content="The user lives in Boston")
        )["id"]
        await call(s, "manage_memory", content="The user's sister lives in Lisbon")
        content_of = {m["id"]: m["content"] for m in await search(s, q, include_superseded=True)}
        before = {
            when: [shown(m, content_of) for m in await search(s, q, as_of=when)]
            for when in ("2000-01-01", t1, t2, now())
        }
        history = {
            content_of[i]: (await read_json(s, f"memory://history/memories/{i}"))["versions"]
            for i in (boston, denver, back)
        }
    exported = run_cli(a, "export", str(tmp_path / "all.jsonl"))
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    old = next(r for r in lines if r["table"] == "memories" and r["id"] == boston)
    assert old["superseded_by"] == denver and old["valid_to"] and old["change"] == "superseded"
    # earlier versions: Boston's first text and its correction; Denver's as created
    assert sum(r["table"] == "memory_history" for r in lines) == 3

    imported = run_cli(b, "import", "--quiet", str(tmp_path / "all.jsonl"))
    assert imported.returncode == 0, imported.stderr
    assert "imported 4 memories (0 already there)" in imported.stderr
    async with memory_session(b) as s:
        content_of_b = {m["id"]: m["content"] for m in await search(s, q, include_superseded=True)}
        assert boston not in content_of_b  # new ids...
        for when, answer in before.items():  # ...and the same answers at every moment
            assert [shown(m, content_of_b) for m in await search(s, q, as_of=when)] == answer, when
        by_content = {c: i for i, c in content_of_b.items()}
        for content, versions in history.items():
            got = (await read_json(s, f"memory://history/memories/{by_content[content]}"))["versions"]
            assert got == versions, content
    again = run_cli(b, "import", "--quiet", str(tmp_path / "all.jsonl"))
    assert "imported 0 memories (4 already there)" in again.stderr, again.stderr
    conn = sqlite3.connect(b / "memory.sqlite3")
    try:
        assert conn.execute("SELECT COUNT(*) FROM memory_history").fetchone()[0] == 3
    finally:
        conn.close()


@pytest.mark.process
async def test_dedupe_lists_clusters_and_supersedes_with_apply(tmp_path: Path) -> None:
    texts = {
        "memories": [
            "The user is allergic to peanuts",
            "The user's sister is called Ana",
            "The user has a peanut allergy",
            "The user lives in Boston",
            "Ana is the user's sister",
        ],
        "work": ["Deploys happen on Tuesdays", "Deployments happen every Tuesday"],
    }
    ids: dict[str, str] = {}
    async with memory_session(tmp_path) as s:
        for ns, items in texts.items():
            for text in items:
                ids[text] = (await call(s, "manage_memory", content=text, namespace=[ns]))["id"]

    def clusters(res: subprocess.CompletedProcess[str]) -> list[tuple[str, list[str]]]:
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        return [(c["keep"]["content"], [d["content"] for d in c["duplicates"]]) for c in report["clusters"]]

    dry = run_cli(tmp_path, "dedupe", "--json")
    assert clusters(dry) == [
        ("Ana is the user's sister", ["The user's sister is called Ana"]),
        ("The user has a peanut allergy", ["The user is allergic to peanuts"]),
        ("Deployments happen every Tuesday", ["Deploys happen on Tuesdays"]),
    ]
    assert "3 clusters; 3 memories would be superseded (dry run" in dry.stderr
    assert clusters(run_cli(tmp_path, "dedupe", "--json", "--namespace", "work")) == [
        ("Deployments happen every Tuesday", ["Deploys happen on Tuesdays"])
    ]
    assert clusters(run_cli(tmp_path, "dedupe", "--json", "--threshold", "0.95")) == []
    bad = run_cli(tmp_path, "dedupe", "--threshold", "1.5")
    assert bad.returncode == 1 and "threshold must be a number above 0 and at most 1" in bad.stderr
    readable = run_cli(tmp_path, "dedupe", "--namespace", "memories")
    assert "keep " + ids["Ana is the user's sister"] in readable.stdout

    applied = run_cli(tmp_path, "dedupe", "--apply", "--namespace", "memories")
    assert applied.returncode == 0 and "2 clusters; 2 memories superseded" in applied.stderr
    async with memory_session(tmp_path) as s:
        now_true = {h["content"] for h in await search(s, "user", limit=20)}
        assert now_true == {
            "The user has a peanut allergy",
            "Ana is the user's sister",
            "The user lives in Boston",
        }
        old = await read_json(s, f"memory://item/memories/{ids['The user is allergic to peanuts']}")
        assert old["superseded_by"] == ids["The user has a peanut allergy"]
        history = await read_json(s, f"memory://history/memories/{ids['The user is allergic to peanuts']}")
        assert [v["change"] for v in history["versions"]] == ["created", "superseded"]
        work = {h["content"] for h in await search(s, "deploys", namespace=["work"])}
        assert work == set(texts["work"])  # --namespace kept the other namespace as it was
    assert clusters(run_cli(tmp_path, "dedupe", "--json", "--namespace", "memories")) == []


async def test_similarity_is_read_before_the_new_text_joins_its_neighbours_context(tmp_path: Path) -> None:
    """Storing a memory re-indexes the one before it with the new text in its context; the
    similarity reported must come from that neighbour's vector as it was, not from the new text
    mixed into it. With Boston alone in the namespace its vector is its own text's embedding."""
    from langmem_mcp.index.embeddings import shared_embedder

    embedder = shared_embedder("minilm-int8")
    boston, denver = embedder.embed(["The user lives in Boston", "The user lives in Denver"])
    expected = float(boston @ denver)
    async with memory_session(tmp_path) as s:
        await call(s, "manage_memory", content="The user lives in Boston")
        made = await call(s, "manage_memory", content="The user lives in Denver")
        [hint] = made["similar"]
        assert abs(hint["similarity"] - expected) < 0.005, (hint, expected)
