"""A stdio server as a host runs it: the real console script spawned with pipes, spoken to one JSON
line at a time, so a test controls exactly when stdin closes and when a signal arrives."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.mcp_client import server_env

#: How long a test waits for any one answer before it fails.
ANSWER_TIMEOUT = 60.0


def console_script() -> list[str]:
    """`langmem-mcp` from this interpreter's environment (what hosts run); `python -m langmem_mcp`
    when the package is not installed with its script."""
    script = Path(sys.executable).with_name("langmem-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "langmem_mcp"]


class StdioServer:
    """One spawned server; `request` sends without waiting, `answer` waits for a given id."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self._next_id = 0
        self.answers: dict[int, dict[str, Any]] = {}
        self.server_requests: list[dict[str, Any]] = []

    @classmethod
    async def start(
        cls,
        data_dir: Path,
        log: Path,
        sampling: bool = False,
        command_prefix: Sequence[str] = (),
        **env: str,
    ) -> StdioServer:
        """Spawn the server (after `command_prefix`, e.g. a tool that drops privileges) and do the
        handshake; `sampling`: the client offers MCP sampling."""
        with open(log, "wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *command_prefix,
                *console_script(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, **server_env(data_dir, **env)},
                limit=1 << 24,
            )
        server = cls(proc, log)
        caps: dict[str, Any] = {"sampling": {}} if sampling else {}
        init = server.request(
            "initialize",
            {
                "protocolVersion": "2025-03-26",
                "capabilities": caps,
                "clientInfo": {"name": "t", "version": "1"},
            },
        )
        await server.answer(init)
        server.notify("notifications/initialized")
        await server.answer(server.request("tools/list"))
        return server

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())

    def request(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params or {}})
        return self._next_id

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def call(self, tool: str, **arguments: Any) -> int:
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    async def _read_one(self) -> bool:
        """Read one message; False at end of output."""
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            return False
        message = json.loads(line)
        if "method" in message:
            self.server_requests.append(message)
        elif "id" in message:
            self.answers[message["id"]] = message
        return True

    async def answer(self, request_id: int) -> dict[str, Any]:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while request_id not in self.answers:
                assert await self._read_one(), f"the server ended its output:\n{self.stderr()}"
        return self.answers[request_id]

    async def server_request(self, method: str) -> dict[str, Any]:
        """Wait until the server sends the client a request (e.g. sampling/createMessage)."""
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while not any(m["method"] == method for m in self.server_requests):
                assert await self._read_one(), f"the server ended its output:\n{self.stderr()}"
        return next(m for m in self.server_requests if m["method"] == method)

    async def drain(self) -> None:
        """Read everything the server still writes, until its output ends."""
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while await self._read_one():
                pass

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def tool_result(answer: dict[str, Any]) -> dict[str, Any]:
    """The structured result of a tools/call answer that succeeded."""
    assert "result" in answer and not answer["result"].get("isError"), answer
    return answer["result"]["structuredContent"]
