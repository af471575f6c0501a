"""Hostile input, generated: every MCP tool and every REST route, over 1,000 cases.

Wrong types, strings above the size limit, unicode and null bytes, SQL and FTS5 syntax,
path-like and oversized namespaces, deeply nested JSON. Outcome: no crash (the SDK's generic
"Error executing tool X" with no reason, a dropped connection, a 5xx), every failure a clear
error, and the seeded memories intact afterwards. Tools and routes are discovered, so new ones
are covered without editing this file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.routing import Route

from langmem_mcp.config import Settings
from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.server.rest import rest_routes
from tests.mcp_client import stdio_session

MAX_CHARS = 200
MCP_EXAMPLES = int(os.environ.get("FUZZ_MCP_EXAMPLES", "650"))
REST_EXAMPLES = int(os.environ.get("FUZZ_REST_EXAMPLES", "400"))
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each step re-runs server calls
)
SEEDS = [
    "Ana's sister lives in Valparaíso and teaches piano",
    "The build uses uv and ruff; tests run with pytest -q",
    "Favourite tea: genmaicha, no sugar",
]
CRASH = re.compile(r"(Error executing tool \S+(: )?)+")

SYNTAX = [
    '"a" OR (',
    "NEAR(a b",
    "a AND",
    "*",
    '"',
    "'; DROP TABLE memories; --",
    "content:x",
    "^a",
    "(((",
    "a NOT",
    "OR",
    "-x",
    "memories_fts MATCH 'x'",
    "%_%",
    "\\",
    "1=1) --",
]
PATHS = ["..", "../etc", "/", "a/b", "", " ", ".", "~", "C:\\x", "%2F", "\x00", "x" * 200, "memories"]

text = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",)), max_size=40
)
big = st.integers(MAX_CHARS + 1, MAX_CHARS * 60).map(lambda n: "é" * n)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(SYNTAX),
    big,
)
# Up to what the SDK client can still serialise (about 250 levels); the server refuses more than
# 128 levels with a JSON-RPC error (server/stdio_guard.py) and tools refuse deep metadata/filters.
nested = st.integers(5, 230).map(lambda d: _nest(d))
json_value = st.recursive(
    scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=8
)
namespace = st.one_of(
    st.lists(st.one_of(st.sampled_from(PATHS), text), max_size=4),
    st.lists(st.just("seg"), min_size=17, max_size=40),
    st.sampled_from(PATHS),
)
hostile = st.one_of(scalar, json_value, namespace, nested)


def _nest(depth: int) -> Any:
    v: Any = "leaf"
    for i in range(depth):
        v = {"$and" if i % 3 == 0 else f"k{i}": v} if i % 2 else [v]
    return {"a": v}


def for_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly hostile values; sometimes one of the right type, so deeper code runs too."""
    if "enum" in schema:
        right: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    else:
        kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
        options = []
        if "string" in kinds:
            options += [text, st.sampled_from(SYNTAX + SEEDS), big]
        if "integer" in kinds:
            options.append(st.integers(-5, 200))
        if "number" in kinds:
            options.append(st.floats(-1, 2))
        if "array" in kinds:
            options.append(namespace)
        if "object" in kinds:
            options += [json_value.filter(lambda v: isinstance(v, dict)), nested]
        right = st.one_of(*options) if options else hostile
    return st.one_of(right, right, hostile)


@st.composite
def arguments(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    args = {k: draw(for_schema(v)) for k, v in props.items() if draw(st.integers(0, 3))}
    if draw(st.integers(0, 9)) == 0:
        args[draw(text)] = draw(hostile)
    return args


async def _bounded(call: Any, what: Any) -> Any:
    """A call that hangs is a failure too; name its input."""
    import anyio

    with anyio.fail_after(60):
        return await call
    raise AssertionError(f"no answer within 60 s: {what}")


@contextmanager
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


def test_mcp_tools_survive_hostile_input(tmp_path: Path) -> None:
    with (
        portal() as p,
        p.wrap_async_context_manager(
            stdio_session(tmp_path, LANGMEM_MCP_MAX_CONTENT_CHARS=str(MAX_CHARS), LANGMEM_MCP_LLM="none")
        ) as s,
    ):
        assert isinstance(s, ClientSession)
        tools = p.call(s.list_tools).tools
        assert {"manage_memory", "search_memory"} <= {t.name for t in tools}
        seeded = [
            p.call(s.call_tool, "manage_memory", {"content": c}).structured_content["id"] for c in SEEDS
        ]
        seen: dict[str, int] = {}

        @settings(FUZZ, max_examples=MCP_EXAMPLES)
        @given(st.data())
        def one(data: st.DataObject) -> None:
            tool = data.draw(st.sampled_from(tools))
            args = data.draw(arguments(tool.input_schema))
            try:
                result = p.call(_bounded, s.call_tool(tool.name, args), (tool.name, args))
            except MCPError as exc:  # a protocol-level refusal is a clear error too
                assert str(exc).strip(), (tool.name, args)
                return
            seen[tool.name] = seen.get(tool.name, 0) + 1
            if result.is_error:
                message = result.content[0].text
                assert not CRASH.fullmatch(message.strip()), (tool.name, args, message)
                assert len(message) > len(f"Error executing tool {tool.name}: "), message

        one()
        assert set(seen) == {t.name for t in tools}, (
            f"tools never called: {set(seen) ^ {t.name for t in tools}}"
        )
        # Data intact: each seed still found by its own words, in the default namespace.
        for mid, content in zip(seeded, SEEDS, strict=True):
            hits = p.call(s.call_tool, "search_memory", {"query": content}).structured_content["memories"]
            assert hits and hits[0]["id"] == mid and hits[0]["content"] == content
        assert p.call(s.call_tool, "search_memory", {"query": '"a" OR ('}).is_error is False


async def _open(data_dir: Path) -> tuple[ServerContext, httpx.AsyncClient, list[Route]]:
    cfg = Settings(data_dir=data_dir, max_content_chars=MAX_CHARS, llm="none")
    state = ServerContext(cfg)
    await state.open()
    routes = [r for r in rest_routes(state) if isinstance(r, Route)]
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Starlette(routes=routes)), base_url="http://t"
    )
    return state, client, routes


async def _close(state: ServerContext, client: httpx.AsyncClient) -> None:
    await client.aclose()
    await state.close()


def test_rest_routes_survive_hostile_input(tmp_path: Path) -> None:
    with portal() as p:
        state, client, routes = p.call(_open, tmp_path)
        try:
            assert routes, "no REST routes to fuzz"
            seen: set[tuple[str, str]] = set()
            params = re.compile(r"{(\w+)}")

            @settings(FUZZ, max_examples=REST_EXAMPLES)
            @given(st.data())
            def one(data: st.DataObject) -> None:
                route = data.draw(st.sampled_from(routes))
                method = data.draw(st.sampled_from(sorted(route.methods - {"HEAD"})))
                path = params.sub(
                    lambda m: quote(str(data.draw(st.one_of(text, st.sampled_from(PATHS)))) or "x", safe=""),
                    route.path,
                )
                kind = data.draw(st.integers(0, 4))
                body: Any = {}
                if kind == 0:
                    content = data.draw(st.binary(max_size=50)) + b"\x00{"
                else:
                    body = data.draw(
                        st.dictionaries(
                            st.one_of(
                                text,
                                st.sampled_from(
                                    [
                                        "content",
                                        "query",
                                        "namespace",
                                        "filter",
                                        "metadata",
                                        "limit",
                                        "messages",
                                        "user_id",
                                        "name",
                                        "type",
                                    ]
                                ),
                            ),
                            hostile,
                            max_size=5,
                        )
                        if kind < 4
                        else hostile
                    )
                    content = json.dumps(body, allow_nan=True).encode()
                query = {
                    k: str(v)[:100]
                    for k, v in data.draw(
                        st.dictionaries(
                            st.sampled_from(["limit", "offset", "cursor", "page_size", "ascending"]),
                            scalar,
                            max_size=2,
                        )
                    ).items()
                }
                seen.add((method, route.path))
                resp = p.call(
                    lambda: client.request(
                        method,
                        path,
                        content=content,
                        params=query,
                        headers={"content-type": "application/json"},
                    )
                )
                assert resp.status_code < 500, (method, path, body, resp.status_code, resp.text[:300])
                if resp.status_code >= 400 and resp.status_code != 404 or "detail" in resp.text[:20]:
                    detail = (
                        resp.json().get("detail")
                        if resp.headers.get("content-type", "").startswith("application/json")
                        else resp.text
                    )
                    assert detail, (method, path, resp.text)

            one()
            assert len(seen) >= len(routes) * 0.9, f"routes never fuzzed: {len(routes) - len(seen)}"
            assert p.call(lambda: state.rt.db.scalar("PRAGMA integrity_check")) == "ok"
        finally:
            p.call(_close, state, client)
