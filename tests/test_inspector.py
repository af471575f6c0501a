"""The MCP Inspector CLI (a real third-party client) lists the tools and calls search_memory,
over stdio and over streamable HTTP with a token. Skipped, saying why, where npx is missing.
The first run installs the inspector package from the npm registry into a cache."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.http_server import create_token, http_server
from tests.mcp_client import REPO
from tests.npm_cache import CACHE_ROOT, NPM_ENV, ensure_package

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
NPX = shutil.which("npx")
TIMEOUT = 600  # the first npx run downloads the package

if NPX is None:
    print("test_inspector: npx not found on PATH; skipping the MCP Inspector tests (install Node.js 20+)")
pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(NPX is None, reason="npx not found on PATH (install Node.js 20+ to run this)"),
]


INSPECTOR_VERSION = INSPECTOR.rsplit("@", 1)[1]
CACHE = CACHE_ROOT / "inspector"


@functools.cache
def inspector_command() -> list[str]:
    """The inspector's CLI, installed once into a cache (npx would resolve the package again at
    every call: ≈0.4 s of CPU each)."""
    why = ensure_package(CACHE, "@modelcontextprotocol/inspector", INSPECTOR_VERSION, TIMEOUT)
    assert not why, why
    return [str(CACHE / "node_modules" / ".bin" / "mcp-inspector"), "--cli"]


def inspector(*args: str) -> dict:
    env = {**os.environ, **NPM_ENV}
    res = subprocess.run(
        [*inspector_command(), *args], capture_output=True, text=True, timeout=TIMEOUT, env=env
    )
    assert res.returncode == 0, f"inspector exited {res.returncode}:\n{res.stdout}\n{res.stderr[-3000:]}"
    return json.loads(res.stdout)


def stdio_target(data: Path) -> list[str]:
    return ["-e", f"PYTHONPATH={REPO}", "-e", f"LANGMEM_MCP_DATA_DIR={data}"]


def test_inspector_over_stdio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ["--", sys.executable, "-m", "langmem_mcp"]
    tools = inspector(*stdio_target(data), "--method", "tools/list", *server)["tools"]
    assert {"manage_memory", "search_memory"} <= {t["name"] for t in tools}
    saved = inspector(
        *stdio_target(data),
        "--method", "tools/call", "--tool-name", "manage_memory",
        "--tool-arg", "content=Our release train leaves every second Tuesday",
        *server,
    )  # fmt: skip
    assert saved["isError"] is False
    found = inspector(
        *stdio_target(data),
        "--method", "tools/call", "--tool-name", "search_memory", "--tool-arg", "query=release train",
        *server,
    )  # fmt: skip
    assert found["isError"] is False
    assert found["structuredContent"]["memories"][0]["id"] == saved["structuredContent"]["id"]


async def test_inspector_over_http_with_token(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = create_token(data, "users/alice")
    async with http_server(data, "http") as server:
        url = f"{server.url}/mcp"
        auth = ["--header", f"Authorization: Bearer {token}"]

        def run(*args: str) -> dict:
            return inspector(url, *auth, *args)  # the target first: --tool-arg takes all that follows

        tools = (await asyncio.to_thread(run, "--method", "tools/list"))["tools"]
        assert "search_memory" in {t["name"] for t in tools}
        saved = await asyncio.to_thread(
            run,
            "--method", "tools/call", "--tool-name", "manage_memory",
            "--tool-arg", "content=Alice reviews PRs in the morning", 'namespace=["users","alice"]',
        )  # fmt: skip
        assert saved["isError"] is False, saved
        found = await asyncio.to_thread(
            run,
            "--method", "tools/call", "--tool-name", "search_memory",
            "--tool-arg", "query=PR reviews", 'namespace=["users","alice"]',
        )  # fmt: skip
        assert found["structuredContent"]["memories"][0]["id"] == saved["structuredContent"]["id"]
        res = subprocess.run(  # no token: the HTTP layer refuses
            [*inspector_command(), "--method", "tools/list", url],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert res.returncode != 0
