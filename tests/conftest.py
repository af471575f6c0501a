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


#: Fixtures that drive a whole host (Claude Code, a browser): their files take the longest.
HOST_FIXTURES = {"claude", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files go to the workers first, so that none of them starts last and keeps one
    worker busy after the others have finished: those driving a whole host, then those with the
    most process tests. The order within a file is kept."""
    weight: dict[Path, int] = {}
    for item in items:
        w = 1 if item.get_closest_marker("process") else 0
        if HOST_FIXTURES & set(getattr(item, "fixturenames", ())):
            w += 100
        weight[item.path] = weight.get(item.path, 0) + w
    items.sort(key=lambda item: -weight.get(item.path, 0))
