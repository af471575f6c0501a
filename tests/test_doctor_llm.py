"""`doctor` asks the configured model endpoint one tiny question and says how it answers: with tool
calls, tool calls written as JSON, text only, malformed JSON, too slowly, or with an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langmem_mcp.commands.doctor import Report, check_llm_endpoint
from langmem_mcp.config import Settings
from tests.fake_anthropic import FakeAnthropic, Reply, error, slow, text, tools
from tests.test_doctor import doctor


@pytest.mark.process
def test_doctor_reports_a_local_endpoint_that_calls_tools(tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.add(tools(("ping", {"ok": True})))
    res = doctor(
        tmp_path, tmp_path / "data", ANTHROPIC_BASE_URL=fake.url, LANGMEM_MCP_ANTHROPIC_MODEL="llama3.2"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"LLM: Anthropic Messages API at {fake.url}, model llama3.2 (no key needed)" in res.stdout
    assert "[  ok] LLM endpoint (llama3.2): answers with tool calls" in res.stdout
    [request] = fake.bodies
    assert request["tool_choice"] == {"type": "tool", "name": "ping"} and request["max_tokens"] == 256


@pytest.mark.parametrize(
    ("reply", "status", "says"),
    [
        (text(json.dumps({"tool_calls": [{"name": "ping", "input": {"ok": True}}]})), "  ok", "as JSON text"),
        (text("Pong! The connection works."), "warn", "answers in text only"),
        (text('{"ok": tru'), "warn", "answers with malformed JSON (the reply's JSON does not parse"),
        (slow(tools(("ping", {"ok": True})), 5), "FAIL", "did not answer within 0.5 s"),
        (error(404, "not_found_error"), "FAIL", "answered 404: it has no /v1/messages, or no model named"),
        (Reply(body=b"<html></html>"), "FAIL", "is not a Messages API reply"),
    ],
    ids=["json-text", "text-only", "malformed-json", "slow", "not-found", "not-a-message"],
)
async def test_doctor_says_how_the_endpoint_answers(
    fake: FakeAnthropic, capsys: pytest.CaptureFixture[str], reply: Reply, status: str, says: str
) -> None:
    fake.add(reply)
    report = Report()
    settings = Settings(anthropic_base_url=fake.url, anthropic_model="qwen3", llm_timeout=0.5)
    await check_llm_endpoint(report, settings)
    out = capsys.readouterr().out
    assert out.startswith(f"[{status}] LLM endpoint (qwen3): ") and says in out, out
    assert report.failed == (status == "FAIL")
    assert len(fake.requests) == 1  # one request, no retries


async def test_no_endpoint_no_request(capsys: pytest.CaptureFixture[str]) -> None:
    for settings in (Settings(), Settings(llm="none", anthropic_api_key="k"), Settings(llm="sampling")):
        await check_llm_endpoint(Report(), settings)
    assert capsys.readouterr().out == ""
