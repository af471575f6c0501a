"""The MCP prompts (recall, remember, session_summary) through a real client's prompts/list and
prompts/get, and the default tool list: the agent-memory tools alone, within 2,500 tokens."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from langmem_mcp.service.capture_accept import accept
from langmem_mcp.store import capture as store
from tests.capture_support import Transcript
from tests.mcp_client import call, memory_session

#: The budget of the default tool list in the host model's context (characters of the tools/list
#: JSON / 4); the benchmark reports the figure.
TOOL_BUDGET_TOKENS = 2500


async def test_the_default_server_serves_the_memory_tools_and_the_prompts(tmp_path: Path) -> None:
    async with memory_session(tmp_path, LANGMEM_MCP_TOOLS="") as s:  # nothing set: the default
        tools = (await s.list_tools()).tools
        assert [t.name for t in tools] == ["manage_memory", "search_memory"]
        listed = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools])
        assert len(listed) / 4 <= TOOL_BUDGET_TOKENS
        prompts = {p.name: p for p in (await s.list_prompts()).prompts}
        assert set(prompts) == {"recall", "remember", "session_summary"}
        # one argument each at most: Claude Code gives a slash command's words to them one by one
        assert [[(a.name, a.required) for a in prompts[p].arguments or []] for p in sorted(prompts)] == [
            [("topic", True)],
            [("focus", False)],
            [("project", False)],
        ]
    async with memory_session(tmp_path, LANGMEM_MCP_TOOLS="service") as s:  # prompts come with memory
        assert (await s.list_prompts()).prompts == []


async def test_recall_and_remember(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop").mkdir()
    monkeypatch.chdir(tmp_path / "shop")  # the server runs in the project, as Claude Code starts it
    async with memory_session(tmp_path / "data", LANGMEM_MCP_USER_ID="ada") as s:
        await call(s, "manage_memory", content="Ada deploys on Fridays only before noon.")
        await call(s, "manage_memory", content="The shop deploys with Kamal.", namespace=["projects", "shop"])
        await call(
            s,
            "manage_memory",
            content="Unrelated: the office plant is a ficus.",
            namespace=["projects", "shop"],
        )
        got = await s.get_prompt("recall", {"topic": "how do we deploy?"})
        [message] = got.messages
        text = message.content.text
        assert message.role == "user"
        assert text.startswith("Here is what long-term memory holds about 'how do we deploy?'")
        assert 'Kamal. (namespace ["projects", "shop"], id ' in text and "Fridays" in text
        assert "ficus" not in text  # under the relevance floor
        nothing = await s.get_prompt("recall", {"topic": "quantum chromodynamics"})
        assert nothing.messages[0].content.text.startswith("Long-term memory holds nothing about")
        with pytest.raises(MCPError, match="topic is empty"):
            await s.get_prompt("recall", {"topic": "  "})

        remember = (await s.get_prompt("remember", {"focus": "the deploy rules"})).messages[0]
        text = remember.content.text
        assert "manage_memory" in text and "one memory per fact" in text.lower()
        assert 'namespace ["projects", "shop"]' in text and "Focus on: the deploy rules" in text


async def test_session_summary_of_a_captured_session(tmp_path: Path) -> None:
    data = tmp_path / "data"
    t = Transcript(tmp_path / "s.jsonl", tmp_path / "shop")
    t.exchange("We picked Postgres 17 for the orders database.", "Postgres 17 it is.")
    async with memory_session(data, LANGMEM_MCP_LLM="none") as s:
        none_yet = await s.get_prompt("session_summary", {"project": "shop"})
        assert "No session of the project 'shop' has been captured yet" in none_yet.messages[0].content.text
        await call(s, "search_memory", query="warm up")  # the server takes the capture queue
        conn = store.connect(data / "memory.sqlite3")
        accept(conn, t.path, event="SessionEnd", session_id=t.session_id, cwd=t.cwd, summarize=True)
        deadline = time.monotonic() + 30
        while store.queue_state(conn).waiting:  # the server stores it
            assert time.monotonic() < deadline, "the server did not store the session"
            await asyncio.sleep(0.1)
        conn.close()
        got = await s.get_prompt("session_summary", {"project": "shop"})
        text = got.messages[0].content.text
        assert text.startswith("Last session, ") and "of the project 'shop'" in text
        assert "Postgres 17" in text
