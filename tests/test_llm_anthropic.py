"""The Anthropic adapter over the real SDK against a scripted HTTP server."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.llm.anthropic_llm import AnthropicLLM
from langmem_mcp.llm.base import LLMError, LLMUnavailable, ToolSpec, Usage
from langmem_mcp.llm.factory import make_llm
from tests.fake_anthropic import FakeAnthropic, error, text, tools

NOTE = ToolSpec("note", "Write a note.", {"type": "object", "properties": {"text": {"type": "string"}}})


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def make(fake: FakeAnthropic, **kw) -> AnthropicLLM:
    kw.setdefault("max_retries", 2)
    kw.setdefault("timeout", 5)
    return AnthropicLLM("sk-test", base_url=fake.url, model="claude-test", **kw)


async def test_text_call_sends_the_request_and_records_usage(fake):
    seen: list[Usage] = []
    fake.add(text("hello there", usage=(21, 4)))
    llm = make(fake, on_usage=seen.append)
    resp = await llm.complete(
        "be brief", [{"role": "user", "content": "hi"}], max_tokens=99, procedure="greet"
    )
    assert resp.text == "hello there" and resp.tool_calls == [] and resp.stop_reason == "end_turn"
    req = fake.requests[0]
    assert req["path"] == "/v1/messages"
    assert (
        req["headers"]["authorization"] == "Bearer sk-test"
    )  # anthropic 2.12 sends the key as a bearer token
    assert req["body"]["model"] == "claude-test"
    assert req["body"]["max_tokens"] == 99
    assert req["body"]["system"] == "be brief"
    assert req["body"]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert seen == llm.usage_log
    assert (seen[0].input_tokens, seen[0].output_tokens, seen[0].procedure) == (21, 4, "greet")
    assert seen[0].model == "claude-fake" and seen[0].backend == "anthropic" and not seen[0].estimated


async def test_tool_calls_and_tool_choice(fake):
    fake.add(tools(("note", {"text": "a"}), ("note", {"text": "b"}), preamble="ok"))
    llm = make(fake)
    resp = await llm.complete("s", [{"role": "user", "content": "x"}], tools=[NOTE], tool_choice="note")
    assert [(c.name, c.input) for c in resp.tool_calls] == [("note", {"text": "a"}), ("note", {"text": "b"})]
    assert resp.text == "ok" and resp.stop_reason == "tool_use"
    body = fake.bodies[0]
    assert body["tools"][0] == {
        "name": "note",
        "description": "Write a note.",
        "input_schema": NOTE.input_schema,
    }
    assert body["tool_choice"] == {"type": "tool", "name": "note"}
    fake.add(text("x"))
    await llm.complete("s", [{"role": "user", "content": "x"}], tools=[NOTE], tool_choice="any")
    assert fake.bodies[1]["tool_choice"] == {"type": "any"}
    with pytest.raises(ValueError):
        await llm.complete("s", [{"role": "user", "content": "x"}], tools=[NOTE], tool_choice="missing")


async def test_consecutive_turns_of_one_role_are_merged(fake):
    fake.add(text("ok"))
    await make(fake).complete("", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    body = fake.bodies[0]
    assert "system" not in body
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


async def test_retries_429_honouring_retry_after_then_5xx(fake):
    fake.add(
        error(429, "rate_limit_error", {"retry-after": "1"}), error(529, "overloaded_error"), text("finally")
    )
    llm = make(fake, max_retries=3)
    start = time.monotonic()
    resp = await llm.complete("", [{"role": "user", "content": "x"}])
    elapsed = time.monotonic() - start
    assert resp.text == "finally"
    assert [r["status"] for r in fake.requests] == [429, 529, 200]
    assert elapsed >= 1.0  # waited as retry-after said
    assert len(llm.usage_log) == 1  # failed attempts cost nothing and are not recorded


async def test_retries_exhausted_raise_llm_error(fake):
    fake.add(*[error(500, headers={"retry-after-ms": "10"})] * 3)
    with pytest.raises(LLMError, match="HTTP 500"):
        await make(fake, max_retries=2).complete("", [{"role": "user", "content": "x"}])
    assert len(fake.requests) == 3


async def test_no_retry_on_400_and_auth_error_message(fake):
    fake.add(error(400, "invalid_request_error"))
    with pytest.raises(LLMError, match="HTTP 400"):
        await make(fake).complete("", [{"role": "user", "content": "x"}])
    fake.add(error(401, "authentication_error"))
    with pytest.raises(LLMError, match="API key"):
        await make(fake).complete("", [{"role": "user", "content": "x"}])
    assert len(fake.requests) == 2


async def test_overall_deadline_caps_a_huge_retry_after(fake):
    fake.add(error(429, "rate_limit_error", {"retry-after": "3600"}), text("never"))
    llm = make(fake, max_retries=1, total_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(LLMError, match="did not finish"):
        await llm.complete("", [{"role": "user", "content": "x"}])
    assert time.monotonic() - start < 5


async def test_unreachable_server_is_an_llm_error():
    llm = AnthropicLLM("sk", base_url="http://127.0.0.1:9", model="claude-test", max_retries=0, timeout=2)
    with pytest.raises(LLMError, match="cannot reach"):
        await llm.complete("", [{"role": "user", "content": "x"}])


async def test_factory_builds_anthropic_from_settings(fake):
    settings = Settings(
        llm="auto",
        anthropic_api_key="sk-f",
        anthropic_base_url=fake.url,
        anthropic_model="m-1",
        llm_max_tokens=77,
    )
    llm = make_llm(settings)
    assert isinstance(llm, AnthropicLLM)
    fake.add(text("ok"))
    await llm.complete("", [{"role": "user", "content": "x"}])
    assert fake.bodies[0]["model"] == "m-1" and fake.bodies[0]["max_tokens"] == 77
    assert fake.requests[0]["headers"]["authorization"] == "Bearer sk-f"


def test_factory_refusals_say_how_to_enable():
    for settings in (
        Settings(llm="none", anthropic_api_key="k"),
        Settings(llm="auto"),
        Settings(llm="sampling"),
    ):
        with pytest.raises(LLMUnavailable) as info:
            make_llm(settings)
        assert "ANTHROPIC_API_KEY" in str(info.value) and "sampling" in str(info.value)
    with pytest.raises(LLMUnavailable, match="ANTHROPIC_API_KEY"):
        make_llm(Settings(llm="anthropic"))


def test_importing_llm_and_engine_does_not_import_anthropic():
    code = (
        "import sys\n"
        "import langmem_mcp.llm, langmem_mcp.llm.base, langmem_mcp.llm.factory, langmem_mcp.llm.sampling\n"
        "import langmem_mcp.llm.prompts, langmem_mcp.llm.anthropic_llm\n"
        "import langmem_mcp.engine.extraction, langmem_mcp.engine.memory_functions\n"
        "import langmem_mcp.engine.summary, langmem_mcp.engine.optimizer\n"
        "assert 'anthropic' not in sys.modules, 'anthropic imported'\n"
        "assert 'mcp' not in sys.modules, 'mcp imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
