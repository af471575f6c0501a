"""manage_memory / search_memory / resources through a real stdio MCP session."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp_client import call, call_error, memory_session, read_json


async def test_tools_are_listed_with_annotations(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert {"manage_memory", "search_memory"} <= set(tools)
        assert tools["search_memory"].annotations.read_only_hint is True
        assert tools["manage_memory"].annotations.destructive_hint is True
        assert "Proactively" in tools["manage_memory"].description
        props = tools["manage_memory"].input_schema["properties"]
        assert props["action"]["enum"] == ["create", "update", "supersede", "delete"]
        assert tools["search_memory"].output_schema is not None


async def test_create_search_update_delete(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        a = await call(s, "manage_memory", content="Steph Curry is my favorite basketball player")
        b = await call(s, "manage_memory", content="I live in Lisbon with my cat Miso")
        assert a["action"] == b["action"] == "created"

        hits = (await call(s, "search_memory", query="Who is my favourite NBA player?"))["memories"]
        assert hits[0]["id"] == a["id"]
        assert hits[0]["namespace"] == ["memories"]
        assert {"id", "namespace", "content", "score", "created_at", "updated_at", "metadata"} <= set(hits[0])
        assert hits[0]["score"] >= hits[-1]["score"]

        hits = (await call(s, "search_memory", query="Miso"))["memories"]
        assert hits[0]["id"] == b["id"]

        up = await call(
            s, "manage_memory", action="update", id=b["id"], content="I moved to Porto with my cat Miso"
        )
        assert up == {"action": "updated", "id": b["id"]}
        hits = (await call(s, "search_memory", query="Porto"))["memories"]
        assert hits[0]["content"] == "I moved to Porto with my cat Miso"
        assert not any("Lisbon" in h["content"] for h in hits)

        gone = await call(s, "manage_memory", action="delete", id=a["id"])
        assert gone == {"action": "deleted", "id": a["id"]}
        hits = (await call(s, "search_memory", query="Steph Curry basketball"))["memories"]
        assert all(h["id"] != a["id"] for h in hits)


async def test_duplicate_returns_existing_and_changes_nothing(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        first = await call(s, "manage_memory", content="Prefers tabs over spaces")
        before = await read_json(s, f"memory://item/memories/{first['id']}")
        again = await call(s, "manage_memory", content="Prefers tabs over spaces")
        assert again == {"action": "exists", "id": first["id"]}
        after = await read_json(s, f"memory://item/memories/{first['id']}")
        assert after == before
        other_ns = await call(s, "manage_memory", content="Prefers tabs over spaces", namespace=["work"])
        assert other_ns["action"] == "created" and other_ns["id"] != first["id"]
        stats = await read_json(s, "memory://stats")
        assert stats["total"] == 2


async def test_namespace_isolation(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        x = await call(
            s, "manage_memory", content="Project X ships on Friday", namespace=["memories", "project-x"]
        )
        await call(
            s, "manage_memory", content="Project Y ships on Monday", namespace=["memories", "project-y"]
        )
        hits = (await call(s, "search_memory", query="ships", namespace=["memories", "project-x"]))[
            "memories"
        ]
        assert [h["id"] for h in hits] == [x["id"]]
        assert (await call(s, "search_memory", query="ships"))["memories"] == []  # default namespace is empty
        # the id is not reachable through another namespace
        msg = await call_error(
            s, "manage_memory", action="delete", id=x["id"], namespace=["memories", "project-y"]
        )
        assert x["id"] in msg
        hits = (await call(s, "search_memory", query="Friday", namespace=["memories", "project-x"]))[
            "memories"
        ]
        assert hits and hits[0]["id"] == x["id"]


async def test_filter_paging_and_resources(tmp_path: Path) -> None:
    async with memory_session(tmp_path, "--namespace", "team/alpha") as s:
        ids = []
        for i in range(7):
            r = await call(
                s, "manage_memory", content=f"Deployment note number {i} about the staging cluster"
            )
            ids.append(r["id"])
        page1 = (await call(s, "search_memory", query="deployment staging", limit=3))["memories"]
        page2 = (await call(s, "search_memory", query="deployment staging", limit=3, offset=3))["memories"]
        assert len(page1) == 3 and len(page2) == 3
        assert not {h["id"] for h in page1} & {h["id"] for h in page2}
        assert all(h["namespace"] == ["team", "alpha"] for h in page1)

        listing = await read_json(s, "memory://list/team%2Falpha?limit=4")
        assert [m["id"] for m in listing["memories"]] == ids[:4]
        nxt = await read_json(s, listing["next_uri"])
        assert [m["id"] for m in nxt["memories"]] == ids[4:]
        assert nxt["next_cursor"] is None
        one = await read_json(s, f"memory://item/team%2Falpha/{ids[0]}")
        assert one["content"].startswith("Deployment note number 0")
        with pytest.raises(MCPError):
            await s.read_resource(f"memory://item/memories/{ids[0]}")  # wrong namespace
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert "memory://item/{namespace}/{id}" in templates
        stats = await read_json(s, "memory://stats")
        assert stats["namespaces"] == [{"namespace": ["team", "alpha"], "count": 7}]
        assert stats["embedding_model"] == "all-MiniLM-L6-v2-onnx-int8"


async def test_persists_across_restart(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        mid = (await call(s, "manage_memory", content="The wifi password is hunter2"))["id"]
    async with memory_session(tmp_path) as s:
        hits = (await call(s, "search_memory", query="wifi password"))["memories"]
        assert hits[0]["id"] == mid
        assert (await call(s, "manage_memory", content="The wifi password is hunter2"))["action"] == "exists"


async def test_bad_input_gives_tool_errors_and_server_keeps_serving(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        good = await call(s, "manage_memory", content="A memory that must survive bad input")
        errors = {
            "wrong type": await call_error(s, "manage_memory", content=42),
            "unknown action": await call_error(s, "manage_memory", content="x", action="merge"),
            "missing content": await call_error(s, "manage_memory"),
            "empty content": await call_error(s, "manage_memory", content="   "),
            "unknown id": await call_error(
                s, "manage_memory", action="delete", id="00000000-0000-4000-8000-000000000000"
            ),
            "garbage id": await call_error(s, "manage_memory", action="update", id="../../etc", content="x"),
            "missing id": await call_error(s, "manage_memory", action="delete"),
            "empty segment": await call_error(s, "manage_memory", content="x", namespace=["memories", ""]),
            "slash": await call_error(s, "manage_memory", content="x", namespace=["a/b"]),
            "control": await call_error(s, "manage_memory", content="x", namespace=["a\x07"]),
            "long segment": await call_error(s, "manage_memory", content="x", namespace=["a" * 129]),
            "namespace type": await call_error(s, "search_memory", query="x", namespace="memories"),
            "limit": await call_error(s, "search_memory", query="x", limit=0),
            "filter op": await call_error(s, "search_memory", query="x", filter={"k": {"$regex": "a"}}),
        }
        assert "00000000-0000-4000-8000-000000000000" in errors["unknown id"]
        assert "empty" in errors["empty segment"]
        assert "'/'" in errors["slash"]
        assert "control" in errors["control"]
        assert "128" in errors["long segment"]
        assert "content is required" in errors["missing content"]
        assert "$regex" in errors["filter op"]
        for query in [
            '"a" OR (',
            "NEAR(x y",
            "content:*",
            "AND OR NOT",
            "'; DROP TABLE memories; --",
            "*",
            "",
        ]:
            res = await s.call_tool("search_memory", {"query": query})
            assert not res.is_error, (query, res.content[0].text)
        hits = (await call(s, "search_memory", query="memory survive bad input"))["memories"]
        assert hits[0]["id"] == good["id"]


async def test_metadata_filter_and_importance(tmp_path: Path) -> None:
    async with memory_session(tmp_path) as s:
        a = await call(
            s,
            "manage_memory",
            content="Coffee order: flat white",
            metadata={"kind": "preference", "year": 2024},
        )
        b = await call(
            s,
            "manage_memory",
            content="Coffee machine broke in 2019",
            metadata={"kind": "event", "year": 2019},
        )
        c = await call(s, "manage_memory", content="Coffee beans from Ethiopia", importance=0.9)
        ids = lambda r: [h["id"] for h in r["memories"]]  # noqa: E731
        assert ids(await call(s, "search_memory", query="coffee", filter={"kind": "preference"})) == [a["id"]]
        assert ids(await call(s, "search_memory", query="coffee", filter={"year": {"$lt": 2020}})) == [
            b["id"]
        ]
        assert set(
            ids(
                await call(
                    s, "search_memory", query="coffee", filter={"kind": {"$in": ["event", "preference"]}}
                )
            )
        ) == {a["id"], b["id"]}
        assert ids(await call(s, "search_memory", query="coffee", filter={"kind": {"$exists": False}})) == [
            c["id"]
        ]
        await call(
            s, "manage_memory", action="update", id=b["id"], metadata={"kind": "preference", "year": 2019}
        )
        assert set(ids(await call(s, "search_memory", query="coffee", filter={"kind": "preference"}))) == {
            a["id"],
            b["id"],
        }
        item = await read_json(s, f"memory://item/memories/{c['id']}")
        assert item["importance"] == 0.9
        assert "importance" in await call_error(s, "manage_memory", content="x", importance=3)
        assert "metadata" in await call_error(
            s,
            "manage_memory",
            content="x",
            metadata={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
        )


async def test_tool_groups_can_be_chosen(tmp_path: Path) -> None:
    async with memory_session(tmp_path, LANGMEM_MCP_TOOLS="memory") as s:
        assert {t.name for t in (await s.list_tools()).tools} == {"manage_memory", "search_memory"}
    async with memory_session(tmp_path) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert {"manage_memory", "query_user_memory", "extract_memories"} <= names


def test_unknown_tool_group_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.mcp_client import server_env

    proc = subprocess.run(
        [sys.executable, "-m", "langmem_mcp"],
        env=server_env(tmp_path, LANGMEM_MCP_TOOLS="memory,graph"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "LANGMEM_MCP_TOOLS" in proc.stderr
