"""Shared fixtures: a data dir, the services on it, a scripted Anthropic endpoint, an MCP session.

Most tests drive the server in process (`memory_session`: the SDK's client over its in-memory
transport, the same messages as stdio). Tests where the process itself is the point (stdio
framing, signals, crashes, two servers, the CLI) spawn it and are marked `process`:
`pytest -m "not process"` runs the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import ClientSession

from langmem_mcp.config import Settings
from langmem_mcp.service.container import Services, open_services
from tests.fake_anthropic import FakeAnthropic
from tests.mcp_client import memory_session


@pytest.fixture(scope="module")
def claude(request: pytest.FixtureRequest) -> Path:
    """The pinned Claude Code binary (installed once with npm); the module is skipped, saying
    why, without it."""
    from tests.claude_code import ensure_claude

    binary, why = ensure_claude()
    if binary is None:
        print(f"{request.module.__name__}: {why}")
        pytest.skip(why)
    return binary


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def services(data_dir: Path) -> AsyncIterator[Services]:
    """The services on a fresh data dir, as the CLI opens them (no background work)."""
    async with open_services(Settings(data_dir=data_dir, llm="none")) as opened:
        yield opened


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    """A scripted Anthropic Messages API on loopback (queue replies with `fake.add(...)`)."""
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def session(data_dir: Path) -> AsyncIterator[ClientSession]:
    """An MCP session with a server on a fresh data dir, in this process."""
    async with memory_session(data_dir) as s:
        yield s


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with the most process tests (the slowest) go to the workers first, so that none
    of them starts last and keeps one worker busy after the others have finished; the order
    within a file is kept."""
    spawning: dict[Path, int] = {}
    for item in items:
        if item.get_closest_marker("process"):
            spawning[item.path] = spawning.get(item.path, 0) + 1
    items.sort(key=lambda item: -spawning.get(item.path, 0))
