"""The same operations on the REST memory routes as on the MCP tools (supersede, history, the
search parameters, the namespace hint), the same answers on both doors, and token scoping on all
of it: REST in process through the scope a token would set, MCP through the real HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.middleware import Middleware

from langmem_mcp.config import Settings
from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.server.rest import rest_routes
from tests.http_server import create_token, http_server, mcp_session
from tests.mcp_client import call, call_error, memory_session, read_json
from tests.rest_server import ScopeFromKey


@asynccontextmanager
async def rest(data_dir: Path) -> AsyncIterator[httpx2.AsyncClient]:
    """The REST routes on the server's services, in process; `x-api-key: scope:<prefix>` acts as a
    token limited to that prefix (as the HTTP server's access layer does)."""
    state = ServerContext(Settings(data_dir=data_dir, llm="none"))
    await state.open()
    app = Starlette(routes=rest_routes(state), middleware=[Middleware(ScopeFromKey)])
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as client:
            yield client
    finally:
        await state.close()


def ok(response: httpx2.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


async def test_rest_does_what_the_tools_do_and_answers_the_same(tmp_path: Path) -> None:
    data = tmp_path / "data"
    q = {"query": "where does the user live"}
    async with rest(data) as http:
        boston = ok(await http.post("/memories", json={"content": "The user lives in Boston"}))["id"]
        assert ok(await http.post("/memories", json={"content": "the user lives in boston!"})) == {
            "action": "exists",
            "id": boston,
        }
        ok(await http.post("/memories", json={"content": "The user's sister lives in Lisbon"}))
        similar = ok(await http.post("/memories", json={"content": "The user is based in Boston, MA"}))
        assert similar["similar"][0]["id"] == boston
        before = datetime.now(UTC).isoformat()
        moved = ok(
            await http.post(f"/memories/{boston}/supersede", json={"content": "The user lives in Denver"})
        )
        assert moved == {"action": "superseded", "id": moved["id"], "superseded": boston}

        now = ok(await http.post("/memories/search", json=q))
        assert now["memories"][0]["id"] == moved["id"] and boston not in {m["id"] for m in now["memories"]}
        every = ok(await http.post("/memories/search", json={**q, "include_superseded": True}))
        then = ok(await http.post("/memories/search", json={**q, "as_of": before}))
        assert boston in {m["id"] for m in every["memories"]} and boston in {
            m["id"] for m in then["memories"]
        }
        later = ok(await http.post("/memories/search", json={**q, "created_after": before}))
        assert [m["id"] for m in later["memories"]] == [moved["id"]]
        history = ok(await http.get(f"/memories/{boston}/history", params={"namespace": "memories"}))
        assert [v["change"] for v in history["versions"]] == ["created", "superseded"]
        item = ok(await http.get(f"/memories/{boston}"))
        assert item["superseded_by"] == moved["id"]
        hint = ok(await http.post("/memories/search", json={**q, "namespace": "memoriess"}))
        assert hint["note"].startswith('namespace ["memoriess"] holds no memories; closest: ["memories"] (4)')

        bad = await http.post("/memories/search", json={**q, "as_of": "last tuesday"})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("as_of 'last tuesday'")
        bad_date = bad.json()["detail"]
        bad = await http.post("/memories/search", json={**q, "include_superseded": "yes"})
        assert bad.status_code == 422 and "include_superseded" in bad.json()["detail"]
        again = await http.post(f"/memories/{boston}/supersede", json={"content": "The user lives in Austin"})
        assert again.status_code == 409 and moved["id"] in again.json()["detail"]
        assert (await http.post(f"/memories/{boston}/supersede", json={})).status_code == 422

    # the MCP tools and resources give the same answers on the same data
    async with memory_session(data) as s:
        assert await call(s, "search_memory", **q) == now
        assert await call(s, "search_memory", **q, include_superseded=True) == every
        assert await call(s, "search_memory", **q, as_of=before) == then
        assert await call(s, "search_memory", **q, created_after=before) == later
        assert await read_json(s, f"memory://history/memories/{boston}") == history
        assert await read_json(s, f"memory://item/memories/{boston}") == item
        assert await call(s, "search_memory", **q, namespace=["memoriess"]) == hint
        assert (await call_error(s, "search_memory", **q, as_of="last tuesday")).endswith(": " + bad_date)


async def test_rest_scoping(tmp_path: Path) -> None:
    """A token limited to a prefix: another prefix's memories cannot be superseded or their
    history read (403, as for every route), and the namespace hint names only namespaces the
    token may use."""
    alice, bob = {"x-api-key": "scope:users/alice"}, {"x-api-key": "scope:users/bob"}
    mine = {"namespace": ["users", "alice", "notes"]}
    async with rest(tmp_path / "data") as http:
        made = ok(await http.post("/memories", json={"content": "Alice keeps bees", **mine}, headers=alice))
        mid = made["id"]
        for method, path, body in (
            ("POST", f"/memories/{mid}/supersede", {"content": "Alice keeps wasps", **mine}),
            ("GET", f"/memories/{mid}/history?namespace=users/alice/notes", None),
        ):
            r = await http.request(method, path, json=body, headers=bob)
            assert r.status_code == 403 and "bees" not in r.text, r.text
        hint = ok(
            await http.post(
                "/memories/search",
                json={"query": "bees", "namespace": ["users", "bob", "notes"]},
                headers=bob,
            )
        )
        assert hint["note"] == (
            'namespace ["users", "bob", "notes"] holds no memories; no namespace you can use holds any yet'
        )
        ok(
            await http.post(
                "/memories", json={"content": "Bob bakes bread", "namespace": "users/bob/x"}, headers=bob
            )
        )
        hint = ok(
            await http.post(
                "/memories/search",
                json={"query": "bees", "namespace": ["users", "bob", "notes"]},
                headers=bob,
            )
        )
        assert hint["note"].endswith('closest: ["users", "bob", "x"] (1)') and "alice" not in hint["note"]
        history = ok(
            await http.get(
                f"/memories/{mid}/history", params={"namespace": "users/alice/notes"}, headers=alice
            )
        )
        assert history["versions"][0]["content"] == "Alice keeps bees"


@pytest.mark.process
async def test_mcp_resources_and_hints_stay_within_the_tokens_prefix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    alice, bob = create_token(data, "users/alice"), create_token(data, "users/bob")
    async with http_server(data, "http") as server:
        async with mcp_session(server, "http", bob) as s:
            secret = await call(
                s, "manage_memory", content="Bob's locker code is 4711", namespace=["users", "bob"]
            )
        async with mcp_session(server, "http", alice) as s:
            await call(s, "manage_memory", content="Alice likes oat milk", namespace=["users", "alice"])
            page = await read_json(s, "memory://namespaces")
            assert page == {
                "namespaces": [{"namespace": ["users", "alice"], "count": 1, "current": 1}],
                "next_cursor": None,
            }
            typo = await call(s, "search_memory", query="oat milk", namespace=["users", "alice", "milk"])
            assert typo["note"].endswith('closest: ["users", "alice"] (1)') and "bob" not in typo["note"]
            msg = await call_error(
                s,
                "manage_memory",
                action="supersede",
                id=secret["id"],
                content="x",
                namespace=["users", "bob"],
            )
            assert "may only use namespaces under ['users', 'alice']" in msg and "4711" not in msg
            with pytest.raises(MCPError, match="is outside it"):
                await s.read_resource(f"memory://history/users%2Fbob/{secret['id']}")
        async with mcp_session(server, "http", bob) as s:
            page = await read_json(s, "memory://namespaces?limit=1")
            assert [n["namespace"] for n in page["namespaces"]] == [["users", "bob"]]
