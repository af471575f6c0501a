"""A small custom host: the MCP SDK client over stdio and over streamable HTTP.

It saves memories, searches them and reads a resource, the way an agent framework would.

    python examples/custom_host.py stdio                 # spawns `langmem-mcp` itself
    langmem-mcp serve --transport http &                 # then:
    python examples/custom_host.py http [http://127.0.0.1:8765/mcp] [--token TOKEN]

With tokens configured on the server, pass one (`langmem-mcp token create --namespace users/me`)
and a namespace under its prefix: `--namespace users/me`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2  # installed with mcp
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


@asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[ClientSession]:
    if args.transport == "stdio":
        exe = shutil.which("langmem-mcp")
        command, cmd_args = (exe, []) if exe else (sys.executable, ["-m", "langmem_mcp"])
        env = {"LANGMEM_MCP_DATA_DIR": args.data_dir} if args.data_dir else None
        params = StdioServerParameters(command=command, args=cmd_args, env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session
    else:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
            async with streamable_http_client(args.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session


async def main(args: argparse.Namespace) -> None:
    ns = [s for s in args.namespace.split("/") if s]
    async with connect(args) as s:
        tools = [t.name for t in (await s.list_tools()).tools]
        print("tools:", ", ".join(tools))
        for fact in ("The user prefers dark roast coffee", "The user's standup is at 9:30 on weekdays"):
            res = await s.call_tool("manage_memory", {"content": fact, "namespace": ns})
            print("saved:", res.structured_content)
        res = await s.call_tool("search_memory", {"query": "what coffee do they like?", "namespace": ns})
        if res.is_error:
            sys.exit(f"search failed: {res.content[0].text}")
        for hit in res.structured_content["memories"][:3]:
            print(f"  {hit['score']:.3f}  {hit['content']}")
        stats = await s.read_resource("memory://stats")
        print("stats:", json.loads(stats.contents[0].text)["total"], "memories")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("transport", choices=["stdio", "http"])
    p.add_argument("url", nargs="?", default="http://127.0.0.1:8765/mcp")
    p.add_argument("--token", help="access token (when the server has tokens)")
    p.add_argument("--namespace", default="memories/example", help="namespace, segments joined by '/'")
    p.add_argument("--data-dir", help="stdio: the data dir for the spawned server")
    asyncio.run(main(p.parse_args()))
