"""The access matrix over MCP (streamable HTTP and SSE) and REST: no token 401, wrong token 401,
another namespace refused without revealing whether data exists, own namespace served; the
loopback-only default; refusal to start on a public address with no tokens.

The REST tests share one server (and its alice and bob tokens): each writes under namespaces
of its own. The MCP matrix has a server to itself, with tokens made by `langmem-mcp token`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
import pytest_asyncio

from langmem_mcp.config import Settings
from langmem_mcp.server.lifespan import ServerContext
from tests.http_server import Server, cli, create_token, http_server, mcp_session
from tests.mcp_client import call, call_error, read_json

pytestmark = pytest.mark.process
#: The tests on the shared REST server run in its event loop.
in_module_loop = pytest.mark.asyncio(loop_scope="module")

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def cli_token(data: Path, prefix: str) -> str:
    """`langmem-mcp token create`, as a user runs it: the token is alone on the last line."""
    res = cli(data, "token", "create", "--namespace", prefix)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def rest_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rest") / "data"


@pytest.fixture(scope="module")
def tokens(rest_data: Path) -> dict[str, str]:
    return {name: create_token(rest_data, f"users/{name}") for name in ("alice", "bob")}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest_server(rest_data: Path, tokens: dict[str, str]) -> AsyncIterator[Server]:
    async with http_server(rest_data, "http") as server:
        yield server


async def test_mcp_matrix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    alice = cli_token(data, "users/alice")
    bob = cli_token(data, "users/bob")
    assert alice.startswith("lmm_") and alice != bob
    assert alice not in (data / "memory.sqlite3").read_bytes().decode("latin-1")  # only a hash is stored
    async with http_server(data, "http") as server:
        async with httpx2.AsyncClient(base_url=server.url) as http:
            r = await http.post("/mcp", json=INIT, headers=MCP_HEADERS)
            assert r.status_code == 401 and "token is required" in r.json()["detail"]
            assert r.headers["www-authenticate"].startswith("Bearer")
            r = await http.post(
                "/mcp", json=INIT, headers={**MCP_HEADERS, "authorization": "Bearer lmm_nope"}
            )
            assert r.status_code == 401 and "not valid" in r.json()["detail"]
            r = await http.get("/sse", headers={"authorization": "Bearer lmm_nope"})
            assert r.status_code == 401
            r = await http.post(
                "/mcp", json=INIT, headers={**MCP_HEADERS, "authorization": f"Bearer {alice}"}
            )
            assert r.status_code == 200

        async with mcp_session(server, "http", bob) as s:
            await call(
                s, "manage_memory", content="Bob's bank PIN hint: birthday", namespace=["users", "bob"]
            )
        async with mcp_session(server, "http", alice) as s:
            made = await call(
                s, "manage_memory", content="Alice likes oat milk", namespace=["users", "alice"]
            )
            await call(
                s, "manage_memory", content="Alice's cat is Miso", namespace=["users", "alice", "pets"]
            )
            hits = (await call(s, "search_memory", query="oat milk", namespace=["users", "alice"]))[
                "memories"
            ]
            assert [h["id"] for h in hits] == [made["id"]]
            # Another user's namespace: refused, whether or not it holds data, with the same message shape.
            with_data = await call_error(s, "search_memory", query="PIN", namespace=["users", "bob"])
            empty = await call_error(s, "search_memory", query="PIN", namespace=["users", "carol"])
            assert "outside" in with_data
            assert with_data.replace("bob", "X") == empty.replace("carol", "X")
            assert "birthday" not in with_data
            # a look-alike prefix is not under users/alice
            await call_error(s, "manage_memory", content="x", namespace=["users", "alice2"])
            await call_error(s, "manage_memory", content="x")  # the default namespace is outside too
            # stats show only what the token may see
            stats = await read_json(s, "memory://stats")
            assert stats["total"] == 2
            assert all(ns["namespace"][:2] == ["users", "alice"] for ns in stats["namespaces"])

        async with mcp_session(server, "sse", alice) as s:  # SSE carries the token the same way
            hits = (await call(s, "search_memory", query="Miso", namespace=["users", "alice", "pets"]))[
                "memories"
            ]
            assert len(hits) == 1
            assert "outside" in await call_error(s, "search_memory", query="PIN", namespace=["users", "bob"])

        # a revoked token stops working at once, without a restart
        token_id = cli(data, "token", "list").stdout.split()[0]
        assert cli(data, "token", "revoke", token_id).returncode == 0
        async with httpx2.AsyncClient(base_url=server.url) as http:
            r = await http.post(
                "/mcp", json=INIT, headers={**MCP_HEADERS, "authorization": f"Bearer {alice}"}
            )
            assert r.status_code == 401


@in_module_loop
async def test_rest_requires_token(rest_server: Server, tokens: dict[str, str]) -> None:
    async with httpx2.AsyncClient(base_url=rest_server.url) as http:
        assert (await http.get("/users")).status_code == 401
        assert (await http.get("/threads", headers={"x-api-key": "lmm_wrong"})).status_code == 401
        assert (await http.get("/threads", headers={"x-api-key": tokens["alice"]})).status_code != 401


@in_module_loop
async def test_rest_memory_matrix(rest_server: Server, tokens: dict[str, str]) -> None:
    """The REST memory routes (what manage_memory / search_memory do, for HTTP hosts): no token
    401, wrong token 401, another namespace 403 whether or not it holds data, own namespace 200."""
    alice, bob = tokens["alice"], tokens["bob"]
    mine = {"namespace": ["users", "alice", "notes"]}
    async with httpx2.AsyncClient(base_url=rest_server.url) as http:
        body = {"content": "Alice keeps bees on the roof", **mine}
        assert (await http.post("/memories", json=body)).status_code == 401
        assert (await http.post("/memories", json=body, headers={"x-api-key": "lmm_x"})).status_code == 401
        created = await http.post("/memories", json=body, headers={"x-api-key": alice})
        assert created.status_code == 200, created.text
        mid = created.json()["id"]
        found = await http.post(
            "/memories/search", json={"query": "bees", **mine}, headers={"x-api-key": alice}
        )
        assert found.status_code == 200 and found.json()["memories"][0]["id"] == mid
        got = await http.get(
            f"/memories/{mid}", params={"namespace": "users/alice/notes"}, headers={"x-api-key": alice}
        )
        assert got.status_code == 200 and got.json()["content"] == body["content"]
        # Bob: 403 for Alice's namespace, and the same 403 for a namespace that holds nothing.
        theirs = await http.post(
            "/memories/search", json={"query": "bees", **mine}, headers={"x-api-key": bob}
        )
        empty = await http.post(
            "/memories/search",
            json={"query": "bees", "namespace": ["users", "carol"]},
            headers={"x-api-key": bob},
        )
        assert theirs.status_code == empty.status_code == 403
        assert "bees" not in theirs.text
        assert (
            theirs.json()["detail"].replace("alice", "carol").split(";")[0]
            == empty.json()["detail"].split(";")[0]
        )
        gone = await http.delete(
            f"/memories/{mid}", params={"namespace": "users/alice/notes"}, headers={"x-api-key": bob}
        )
        assert gone.status_code == 403
        still = await http.get(
            f"/memories/{mid}", params={"namespace": "users/alice/notes"}, headers={"x-api-key": alice}
        )
        assert still.status_code == 200
        bad = await http.post("/memories", json={"content": 5, **mine}, headers={"x-api-key": alice})
        assert bad.status_code == 422 and "content" in bad.json()["detail"]


@in_module_loop
async def test_rest_scoping(rest_server: Server, tokens: dict[str, str]) -> None:
    """REST entities live in the token's scope: its own user is served (200); another scope's user
    answers exactly like an id that exists nowhere, so nothing is revealed."""
    import uuid

    alice, bob = tokens["alice"], tokens["bob"]
    uid = str(uuid.uuid4())
    async with httpx2.AsyncClient(base_url=rest_server.url) as http:
        r = await http.post("/users", json={"id": uid, "name": "Alice"}, headers={"x-api-key": alice})
        assert r.status_code == 200, r.text
        assert (await http.get(f"/users/{uid}", headers={"x-api-key": alice})).status_code == 200
        other = await http.get(f"/users/{uid}", headers={"x-api-key": bob})
        nowhere = await http.get(f"/users/{uuid.uuid4()}", headers={"x-api-key": bob})
        assert other.status_code == nowhere.status_code
        assert other.status_code == 404
        assert "Alice" not in other.text


async def test_loopback_only_without_tokens(tmp_path: Path) -> None:
    """No tokens: loopback clients are served, unrestricted (the local default)."""
    async with http_server(tmp_path / "data", "http") as server:
        async with mcp_session(server, "http") as s:
            await call(s, "manage_memory", content="anything goes locally", namespace=["users", "bob"])


async def test_non_loopback_client_refused_without_tokens(tmp_path: Path) -> None:
    """The ASGI layer itself, given a request from a non-loopback peer and no tokens: 403."""
    from langmem_mcp.server.auth import AccessControl

    served = ServerContext(Settings(data_dir=tmp_path))
    reached: list[str] = []

    async def app(scope, receive, send):  # noqa: ANN001 - the inner app must not be reached
        reached.append(scope["path"])

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async with served.running():
        guard = AccessControl(app, served)
        for client in (("192.0.2.7", 5555), ("127.0.0.1", 5555)):
            scope = {"type": "http", "path": "/mcp", "headers": [], "client": client}
            await guard(scope, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 403 and b"loopback" in sent[1]["body"]
    assert reached == ["/mcp"]  # only the loopback request got through


def test_refuses_public_address_without_tokens(tmp_path: Path) -> None:
    res = cli(tmp_path / "data", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1")
    assert res.returncode == 2
    assert "refusing to serve on 0.0.0.0" in res.stderr
    assert "langmem-mcp token create --namespace" in res.stderr
    assert "Uvicorn running" not in res.stderr
