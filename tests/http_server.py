"""Run `langmem-mcp serve --transport http|sse` as a subprocess on a free loopback port, and
open SDK client sessions to it (streamable HTTP or SSE), with or without a token."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from langmem_mcp.config import Settings
from langmem_mcp.service.container import open_services
from tests.mcp_client import server_env

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m langmem_mcp ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "--data-dir", str(data_dir), *args],
        env={**os.environ, **server_env(data_dir, **env)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def create_token(data_dir: Path, prefix: str) -> str:
    """A token limited to `prefix`, made in this process by the service `langmem-mcp token create`
    calls (the command costs a process start, ≈0.3 s of CPU; test_auth runs it as a user does)."""

    async def create() -> str:
        async with open_services(Settings(data_dir=data_dir, llm="none")) as services:
            return (await services.tokens.create(prefix)).token

    # Its own event loop, in a thread: callers may be inside a running loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, create()).result()


@asynccontextmanager
async def http_server(data_dir: Path, transport: str = "http", **env: str) -> AsyncIterator[Server]:
    port = free_port()
    log = data_dir.parent / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "langmem_mcp", "serve", "--transport", transport, "--port", str(port)],
            env={**os.environ, **server_env(data_dir, **env)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            assert proc.poll() is None, f"server exited early:\n{server.output()}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert loop.time() < deadline, f"server did not start:\n{server.output()}"
                await asyncio.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def mcp_session(
    server: Server, transport: str = "http", token: str | None = None
) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "http":
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as client:
            async with streamable_http_client(f"{server.url}/mcp", http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session
    else:
        async with sse_client(f"{server.url}/sse", headers=headers) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
