"""Drive the server as hosts do: in process over the SDK's own client (`memory_session`, fast),
or spawned as `python -m langmem_mcp` over stdio (`stdio_session`, where the process matters)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, ClientSession, StdioServerParameters, stdio_client

REPO = Path(__file__).resolve().parents[1]


#: Tests serve every tool group unless they say otherwise (the default is `memory` alone; its
#: tests pass LANGMEM_MCP_TOOLS="" to get it).
ALL_TOOLS = "memory,service,llm"


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "LANGMEM_MCP_DATA_DIR": str(data_dir),
        "LANGMEM_MCP_TOOLS": ALL_TOOLS,
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HOME": os.environ.get("HOME", str(data_dir)),
    }
    env.update(extra)
    return env


@asynccontextmanager
async def stdio_session(data_dir: Path, *args: str, **env: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "langmem_mcp", *args], env=server_env(data_dir, **env)
    )
    with open(os.environ.get("LANGMEM_TEST_ERRLOG", os.devnull), "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


#: Command-line flags a test may give a server, as the settings they stand for.
FLAGS = {"--namespace": "LANGMEM_MCP_NAMESPACE", "--chroma-url": "LANGMEM_MCP_CHROMA_URL"}


def server_settings(data_dir: Path, *args: str, **env: str) -> Any:
    """The settings a server spawned with `server_env(data_dir, **env)` and `args` would read."""
    from langmem_mcp.config import load_settings

    environ = {k: v for k, v in server_env(data_dir, **env).items() if k not in ("PYTHONPATH", "HOME")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        environ[FLAGS[flag]] = value
    return load_settings(environ=environ)


@asynccontextmanager
async def memory_session(data_dir: Path, *args: str, **env: str) -> AsyncIterator[ClientSession]:
    """The same server as `stdio_session`, in this process: the SDK's client over its in-memory
    transport (the handshake and every message as on stdio, without spawning a process)."""
    from langmem_mcp.server.app import build_server

    server = build_server(server_settings(data_dir, *args, **env))
    async with Client(server, mode="legacy") as client:
        yield client.session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


async def call_error(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a tool error; return the message."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    return result.content[0].text


async def read_json(session: ClientSession, uri: str) -> Any:
    res = await session.read_resource(uri)
    return json.loads(res.contents[0].text)
