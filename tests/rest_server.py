"""Serve the LangMem REST API alone (no MCP, no token layer) for the real `langmem` client.

`python -m tests.rest_server PORT` builds a Starlette app from `rest_routes(served)` with the
server's own lifespan (`running(state)`: runtime, background formation) and serves it with
uvicorn on 127.0.0.1:PORT, printing `READY` once it answers. Settings come from the
environment (LANGMEM_MCP_DATA_DIR, LANGMEM_MCP_FORMATION_DELAY_SECONDS, ANTHROPIC_*...).

Stand-in for the token layer of the HTTP server: an `x-api-key` of the form `scope:<prefix>`
runs the request as a principal limited to that namespace prefix; no key is unrestricted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScopeFromKey:
    """ASGI middleware: `x-api-key: scope:<prefix>` → act as a principal limited to <prefix>."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from langmem_mcp.service import access

        key = ""
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                key = value.decode()
        if scope["type"] == "http" and key.startswith("scope:"):
            with access.acting_as(access.Principal(prefix=key[len("scope:") :])):
                await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_app() -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from langmem_mcp.config import load_settings
    from langmem_mcp.server.app import running
    from langmem_mcp.server.lifespan import ServerContext
    from langmem_mcp.server.rest import rest_routes

    served = ServerContext(load_settings())

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        async with running(served):
            yield

    return Starlette(routes=rest_routes(served), middleware=[Middleware(ScopeFromKey)], lifespan=lifespan)


def main() -> None:
    import uvicorn

    port = int(sys.argv[1])
    config = uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.run()


@dataclass
class RestServer:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start(data_dir: Path, **env: str) -> RestServer:
    """Spawn the server; wait until it answers HTTP."""
    import urllib.request

    port = free_port()
    log = data_dir.parent / f"rest-server-{port}.log"
    full_env = {
        **os.environ,
        "LANGMEM_MCP_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **env,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.rest_server", str(port)],
            cwd=REPO,
            env=full_env,
            stdout=out,
            stderr=out,
        )
    server = RestServer(proc, f"http://127.0.0.1:{port}", log)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the REST server exited with {proc.returncode}:\n{server.output()}")
        try:
            with opener.open(server.url + "/threads", timeout=2) as resp:
                resp.read()
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the REST server did not start in {START_TIMEOUT}s:\n{server.output()}")


if __name__ == "__main__":
    main()
