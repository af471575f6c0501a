"""The HTTP server's app in this process (lifespan and all), with an HTTP client on it that
looks like a browser on this machine: for memory-browser tests that need no real browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2

from langmem_mcp.server.http import build_app
from langmem_mcp.server.lifespan import ServerContext
from tests.mcp_client import server_settings

BASE = "http://127.0.0.1:8765"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def ui_client(
    data_dir: Path, client_host: str = "127.0.0.1", **env: str
) -> AsyncIterator[httpx2.AsyncClient]:
    settings = server_settings(data_dir, LANGMEM_MCP_LLM="none", **env)
    app = build_app(settings, ServerContext(settings))
    transport = httpx2.ASGITransport(app=app, client=(client_host, 50123))
    async with app.router.lifespan_context(app):
        async with httpx2.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            yield client


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def post_form(
    client: httpx2.AsyncClient, path: str, fields: dict[str, str], origin: str | None = BASE
) -> httpx2.Response:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["origin"] = origin
    from urllib.parse import urlencode

    return await client.post(path, content=urlencode(fields), headers=headers)
