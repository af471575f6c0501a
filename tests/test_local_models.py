"""Local models behind Anthropic-compatible endpoints (Ollama, LM Studio, vLLM serve `/v1/messages`).

The server is driven through a real MCP client; the "local server" is a scripted Messages endpoint
on loopback that behaves as such servers do: no key needed, tool calls in the reply, text only,
malformed JSON, answers slower than the timeout, and a reply that is no message at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langmem_mcp.config import Settings, load_settings
from langmem_mcp.llm.anthropic_llm import AnthropicLLM
from langmem_mcp.llm.factory import LOCAL_KEY, make_llm
from langmem_mcp.service.formation import llm_missing
from tests.fake_anthropic import FakeAnthropic, raw, slow, text, tools
from tests.mcp_client import call, call_error, memory_session, read_json

CONVERSATION = [
    {"role": "user", "content": "I moved from Porto to Lisbon last month. I am vegetarian now."},
    {"role": "assistant", "content": "Noted! How do you like Lisbon?"},
]
SUMMARY = {"title": "Moving to Lisbon", "summary": "The user moved to Lisbon.", "topics": ["move"]}


def local_env(fake: FakeAnthropic, **extra: str) -> dict[str, str]:
    """A local server as its docs configure it: a base URL and a model name, no key."""
    return {
        "ANTHROPIC_BASE_URL": fake.url,
        "LANGMEM_MCP_ANTHROPIC_MODEL": "qwen3-coder",
        "LANGMEM_MCP_LLM_MAX_RETRIES": "1",
        "LANGMEM_MCP_LLM_TIMEOUT": "10",
        **extra,
    }


async def summaries(session: Any, thread: str) -> list[dict[str, Any]]:
    page = await read_json(session, f"memory://list/threads%2F{thread}%2Fsummary")
    return page["memories"]


def test_a_base_url_that_is_not_anthropics_needs_no_key() -> None:
    local = load_settings(environ={"ANTHROPIC_BASE_URL": "http://localhost:11434"})
    assert local.local_llm_endpoint and local.llm_endpoint_configured
    assert isinstance(make_llm(local), AnthropicLLM)
    assert llm_missing(local) is None  # background formation can use it too

    for url in (None, "https://api.anthropic.com", "https://eu.api.anthropic.com/"):
        settings = Settings(anthropic_base_url=url)
        assert not settings.local_llm_endpoint and not settings.llm_endpoint_configured
        assert llm_missing(settings) is not None


async def test_tool_calls_from_a_local_server_are_stored(tmp_path: Path, fake: FakeAnthropic) -> None:
    async with memory_session(tmp_path, **local_env(fake)) as s:
        fake.add(tools(("write_summary", SUMMARY)))
        out = await call(s, "summarize_thread", thread_id="t1", messages=CONVERSATION)
        assert out["method"] == "llm" and out["summary"] == SUMMARY
        [stored] = await summaries(s, "t1")
        assert stored["content"].startswith("Moving to Lisbon")
    [request] = fake.requests
    assert request["path"] == "/v1/messages" and request["body"]["model"] == "qwen3-coder"
    assert request["headers"]["authorization"] == f"Bearer {LOCAL_KEY}"  # no key set; local servers ignore it


async def test_text_only_answers_from_a_local_server_are_read(tmp_path: Path, fake: FakeAnthropic) -> None:
    async with memory_session(tmp_path, **local_env(fake)) as s:
        fake.add(text("The user moved from Porto to Lisbon and is vegetarian now."))
        out = await call(s, "summarize_thread", thread_id="t2", messages=CONVERSATION)
        assert out["method"] == "llm" and out["summary"]["summary"].startswith("The user moved")
        assert len(await summaries(s, "t2")) == 1

        fake.add(text("- The user lives in Lisbon.\n- The user is vegetarian."))
        out = await call(s, "extract_memories", messages=CONVERSATION)
        assert [m["content"] for m in out["inserted"]] == [
            "The user lives in Lisbon.",
            "The user is vegetarian.",
        ]


async def test_malformed_json_is_fed_back_once_then_a_clear_error(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    broken = '```json\n{"title": "Moving", "summary": "The user moved.", "topics": [\n```'
    async with memory_session(tmp_path, **local_env(fake)) as s:
        fake.add(text(broken), text(json.dumps(SUMMARY)))
        out = await call(s, "summarize_thread", thread_id="t3", messages=CONVERSATION)
        assert out["summary"] == SUMMARY
        feedback = fake.bodies[1]["messages"][-1]["content"]
        assert "does not parse" in json.dumps(feedback)

        fake.add(text(broken), text(broken))
        message = await call_error(s, "summarize_thread", thread_id="t4", messages=CONVERSATION)
        assert "did not produce a valid summary" in message and "does not parse" in message
        assert await summaries(s, "t4") == []  # nothing invalid is stored


async def test_an_answer_slower_than_the_timeout_is_retried(tmp_path: Path, fake: FakeAnthropic) -> None:
    env = local_env(fake, LANGMEM_MCP_LLM_TIMEOUT="0.5")
    async with memory_session(tmp_path, **env) as s:
        fake.add(slow(tools(("write_summary", SUMMARY)), 5), tools(("write_summary", SUMMARY)))
        out = await call(s, "summarize_thread", thread_id="t5", messages=CONVERSATION)
        assert out["summary"] == SUMMARY and len(fake.requests) == 2

        fake.add(slow(text("late"), 5), slow(text("late"), 5))
        message = await call_error(s, "summarize_thread", thread_id="t6", messages=CONVERSATION)
        assert f"the model server at {fake.url} did not answer within 0.5 s, 2 time(s)" in message
        assert "LANGMEM_MCP_LLM_TIMEOUT" in message
        assert await summaries(s, "t6") == []


@pytest.mark.parametrize(
    "body",
    [b"<html>not found</html>", json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode()],
    ids=["html", "openai-shape"],
)
async def test_a_reply_that_is_not_a_message_is_a_clear_error(
    tmp_path: Path, fake: FakeAnthropic, body: bytes
) -> None:
    async with memory_session(tmp_path, **local_env(fake)) as s:
        fake.add(raw(body))
        message = await call_error(s, "summarize_thread", thread_id="t7", messages=CONVERSATION)
        assert "is not a Messages API reply" in message and fake.url in message
