"""The real `langmem==0.0.3` client drives the LangMem REST API over loopback HTTP.

The client runs in its own virtualenv (see tests/langmem_client_env.py) against a server
process serving `rest_routes(state)` (tests/rest_server.py); each flow of
tests/langmem_client_script.py is one test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import rest_server
from tests.langmem_client_env import client_python, run_flow

pytestmark = pytest.mark.process

FLOWS = [
    "readme",
    "functions",
    "messages",
    "thread_state",
    "users",
    "user_memory",
    "errors",
    "scopes",
    "background",
]


@pytest.fixture(scope="module")
def python() -> Path:
    return client_python()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rest_server.RestServer]:
    data = tmp_path_factory.mktemp("rest") / "data"
    srv = rest_server.start(
        data,
        LANGMEM_MCP_FORMATION_DELAY_SECONDS="0.5",
        # no LLM, whatever the developer's environment holds: the embedded default
        ANTHROPIC_API_KEY="",
        LANGMEM_MCP_ANTHROPIC_API_KEY="",
        LANGMEM_MCP_LLM="auto",
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("flow", FLOWS)
def test_flow(flow: str, python: Path, server: rest_server.RestServer) -> None:
    result = run_flow(python, server.url, flow)
    assert result.returncode == 0, (
        f"flow {flow} failed:\n{result.stdout}\n{result.stderr}\n--- server log ---\n{server.output()[-4000:]}"
    )
    assert f"ok {flow}" in result.stdout
