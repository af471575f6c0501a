"""Shared fixtures: a data dir, the services on it, a scripted Anthropic endpoint, an MCP session.

Most tests drive the server in process (`memory_session`: the SDK's client over its in-memory
transport, the same messages as stdio). Tests where the process itself is the point (stdio
framing, signals, crashes, two servers, the CLI) spawn it and are marked `process`:
`pytest -m "not process"` runs the rest.
"""

from __future__ import annotations

import json
import resource
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# The fixtures import the server's modules when they run: xdist's controller loads this file too,
# and starts the workers only after it (≈0.5 s of imports it never uses).
if TYPE_CHECKING:
    from mcp import ClientSession

    from langmem_mcp.service.container import Services
    from tests.fake_anthropic import FakeAnthropic


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
    from langmem_mcp.config import Settings
    from langmem_mcp.service.container import open_services

    async with open_services(Settings(data_dir=data_dir, llm="none")) as opened:
        yield opened


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    """A scripted Anthropic Messages API on loopback (queue replies with `fake.add(...)`)."""
    from tests.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def session(data_dir: Path) -> AsyncIterator[ClientSession]:
    """An MCP session with a server on a fresh data dir, in this process."""
    from tests.mcp_client import memory_session

    async with memory_session(data_dir) as s:
        yield s


#: pytest's cache key for each test file's [seconds, CPU seconds] in the last run that ran it.
FILE_TIMES = "langmem/file-times"
#: The same, measured here on 2 cores: the order of a first run (a fresh clone, CI) until the
#: cache has its own.
SEED_TIMES = Path(__file__).with_name("file_times.json")
#: A file not timed yet: this many seconds per process test (the slow kind), and per other test.
GUESS_PROCESS, GUESS_OTHER = 3.0, 0.05
#: Three workers share two cores: a test that computes all along takes ≈1.5 times its CPU time.
SHARE = 1.5
#: How much more a second spent waiting counts (on a timeout, a retry-after, a server): waits
#: cost nothing early, while the other workers keep the cores busy; among the last files they
#: leave cores idle.
WAIT_WEIGHT = 2.0
_times: dict[str, list[float]] = {}
_CPU_AT_SETUP = pytest.StashKey[float]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files go to the workers first, so that none of them starts last and keeps one
    worker busy after the others have finished; the order within a file is kept. A file's time is
    the one the last run measured (kept in pytest's cache; before that, tests/file_times.json),
    its waits counted more; a file not timed yet is guessed from its number of process tests.
    xdist hands the files out in this order (--no-loadscope-reorder in pyproject.toml; by
    default it orders them by their number of tests)."""
    cache = getattr(config, "cache", None)
    timed: dict[str, list[float]] = json.loads(SEED_TIMES.read_text()) if SEED_TIMES.exists() else {}
    timed.update((cache.get(FILE_TIMES, {}) if cache is not None else None) or {})
    guess: dict[str, float] = {}
    for item in items:
        weight = GUESS_PROCESS if item.get_closest_marker("process") else GUESS_OTHER
        guess[file_of(item.nodeid)] = guess.get(file_of(item.nodeid), 0.0) + weight

    def cost(item: pytest.Item) -> float:
        file = file_of(item.nodeid)
        if file not in timed:
            return guess[file]
        seconds, cpu = timed[file]
        return seconds + WAIT_WEIGHT * max(0.0, seconds - SHARE * cpu)

    items.sort(key=cost, reverse=True)


def file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def _cpu() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_CPU_AT_SETUP] = _cpu()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if call.when == "teardown" and _CPU_AT_SETUP in item.stash:
        report.cpu_seconds = _cpu() - item.stash[_CPU_AT_SETUP]  # type: ignore[attr-defined]
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each file's seconds and CPU seconds (the latter from the worker that ran it: xdist sends
    the report's attributes along)."""
    times = _times.setdefault(file_of(report.nodeid), [0.0, 0.0])
    times[0] += report.duration
    times[1] += getattr(report, "cpu_seconds", 0.0)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep each file's times for the next run's order (in the controller: a worker sees only the
    files it ran)."""
    config = session.config
    cache = getattr(config, "cache", None)
    if hasattr(config, "workerinput") or cache is None or not _times:
        return
    timed = cache.get(FILE_TIMES, {}) or {}
    timed.update({file: [round(s, 2), round(c, 2)] for file, (s, c) in _times.items()})
    cache.set(FILE_TIMES, timed)
