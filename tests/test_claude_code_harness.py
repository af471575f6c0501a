"""The real Claude Code CLI (`claude -p`, pinned) against a scripted model on 127.0.0.1.

Shows the harness works end to end: a scripted answer round-trips; Claude Code spawns this
server from a project's .mcp.json and calls its tools through tool search; hooks fire with the
documented stdin and a SessionStart hook's additionalContext reaches the model. The first run
installs the CLI with npm into ~/.cache/langmem-mcp-tests/claude-code (skipped, saying why,
without npm).
"""

from __future__ import annotations

import json
import shlex
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from langmem_mcp.engine import transcripts
from tests.claude_code import (
    ClaudeRun,
    Request,
    ScriptedModel,
    call,
    langmem_server,
    run_claude,
    say,
    session_files,
    tool_result_text,
    transcript_for,
    user_settings,
    write_mcp_json,
)
from tests.mcp_client import call as mcp_call
from tests.mcp_client import stdio_session

pytestmark = pytest.mark.process


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def ok(run: ClaudeRun) -> dict[str, Any]:
    assert run.returncode == 0 and run.output is not None, run.describe()
    assert run.output["is_error"] is False, run.describe()
    print(f"claude -p: {run.seconds:.2f}s wall, session {run.session_id}")
    return run.output


def model_input(request: Request) -> str:
    """The text of every message the model was sent (system-role messages included)."""
    return json.dumps(request.messages, ensure_ascii=False)


def test_scripted_text_round_trips(claude: Path, home: Path, project: Path) -> None:
    user_settings(home, {})
    with ScriptedModel([say("Hello from the scripted model.")]) as model:
        out = ok(run_claude(claude, project, home, "Say hello", model))
    assert out["result"] == "Hello from the scripted model."
    assert out["num_turns"] == 1
    assert len(model.turns) == 1 and model.remaining == 0 and not model.unscripted
    turn = model.turns[0]
    assert turn.body["stream"] is True
    assert "Say hello" in model_input(turn)
    assert "ToolSearch" in {t["name"] for t in turn.body["tools"]}
    assert "Claude" in turn.system_text
    # The session's transcript is written under $HOME/.claude/projects/<project dir>/<session>.jsonl
    path = transcript_for(home, out["session_id"])
    assert path is not None and path.parent.parent == home / ".claude" / "projects"
    got = transcripts.parse_file(path)
    assert [(t.role, t.text) for t in got.turns] == [
        ("user", "Say hello"),
        ("assistant", "Hello from the scripted model."),
    ]
    assert not got.problems
    assert {t.session_id for t in got.turns} == {out["session_id"]}


def test_under_scripted_session_fails_fast(claude: Path, home: Path, project: Path) -> None:
    user_settings(home, {})
    with ScriptedModel([]) as model:
        run = run_claude(claude, project, home, "Anyone there?", model, timeout=60)
    assert run.output is not None and run.output["is_error"] is True, run.describe()
    assert "no reply left" in run.output["result"]
    assert model.unscripted and not model.turns


def _tools_listed(body: dict[str, Any]) -> bool:
    return "mcp__memory__manage_memory" in json.dumps(body.get("messages"))


async def test_mcp_memory_tools_through_tool_search(
    claude: Path, home: Path, project: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write_mcp_json(project, {"memory": langmem_server(data)})
    # MCP tools need a permission in -p mode; without it the call comes back as a denial.
    user_settings(home, {"permissions": {"allow": ["mcp__memory"]}})
    fact = "The user's cat is called Tomasz and sleeps on the radiator"

    def load_tools(body: dict[str, Any]):
        # With many tools Claude Code defers MCP tools: the model sees only their names in a
        # system message and must load the schemas with ToolSearch("select:...") first.
        if not _tools_listed(body):
            return say("the memory server's tools were not listed")
        return call("ToolSearch", {"query": "select:mcp__memory__manage_memory,mcp__memory__search_memory"})

    script = [
        load_tools,
        call("mcp__memory__manage_memory", {"content": fact}),
        call("mcp__memory__search_memory", {"query": "cat radiator"}),
        say("Noted: your cat Tomasz sleeps on the radiator."),
    ]
    with ScriptedModel(script) as model:
        out = ok(
            run_claude(claude, project, home, "Remember that my cat Tomasz sleeps on the radiator", model)
        )
    assert out["result"] == "Noted: your cat Tomasz sleeps on the radiator."
    assert out["permission_denials"] == []
    assert len(model.turns) == 4, [r.kind for r in model.requests]

    first, loaded, created, found = model.turns
    deferred = model_input(first)
    assert "mcp__memory__search_memory" in deferred and "ToolSearch" in deferred
    assert "mcp__memory__manage_memory" not in {t["name"] for t in first.body["tools"]}
    # ToolSearch answers with tool_reference blocks; the schemas then come with the tool list.
    assert loaded.tool_results()[-1]["content"][:2] == [
        {"type": "tool_reference", "tool_name": "mcp__memory__manage_memory"},
        {"type": "tool_reference", "tool_name": "mcp__memory__search_memory"},
    ]
    names = {t["name"] for t in loaded.body["tools"]}
    assert {"mcp__memory__manage_memory", "mcp__memory__search_memory"} <= names
    # Each tool's result reaches the model in the next request.
    write = json.loads(tool_result_text(created.tool_results()[-1]))
    assert write["action"] == "created"
    hits = json.loads(tool_result_text(found.tool_results()[-1]))["memories"]
    assert hits[0]["id"] == write["id"] and hits[0]["content"] == fact

    # The memory is in the data dir (read back by a fresh server over stdio).
    async with stdio_session(data) as session:
        again = await mcp_call(session, "search_memory", query="Tomasz")
    assert [m["content"] for m in again["memories"]] == [fact]


HOOK_SCRIPT = """\
import json, os, sys
event = json.load(sys.stdin)
record = {"stdin": event, "cwd": os.getcwd(),
          "env": {k: v for k, v in os.environ.items() if k.startswith("CLAUDE_PROJECT_DIR")}}
with open(sys.argv[1], "a") as log:
    log.write(json.dumps(record) + "\\n")
name = event.get("hook_event_name")
if name == "SessionStart":
    context = "MARKER-123 (" + event.get("source", "?") + ")"
    print(json.dumps({"hookSpecificOutput": {"hookEventName": name, "additionalContext": context}}))
elif name == "UserPromptSubmit":
    print(json.dumps({"hookSpecificOutput": {"hookEventName": name, "additionalContext": "PROMPT-MARKER-456"}}))
"""

HOOK_EVENTS = ["SessionStart", "UserPromptSubmit", "PreCompact", "PostCompact", "Stop", "SessionEnd"]


def _hook_settings(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    script = tmp_path / "hook.py"
    script.write_text(HOOK_SCRIPT)
    log = tmp_path / "hooks.jsonl"
    command = " ".join(shlex.quote(str(p)) for p in (sys.executable, script, log))
    hooks = {
        event: [{"hooks": [{"type": "command", "command": command, "timeout": 30}]}] for event in HOOK_EVENTS
    }
    return {"hooks": hooks}, log


def _fired(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_hooks_fire_and_session_start_context_reaches_the_model(
    claude: Path, home: Path, project: Path, tmp_path: Path
) -> None:
    settings, log = _hook_settings(tmp_path)
    user_settings(home, settings)
    cwd = str(project.resolve())

    # 1. A fresh `claude -p`: SessionStart(startup), UserPromptSubmit, Stop, SessionEnd.
    with ScriptedModel([say("First answer.")]) as model:
        out = ok(run_claude(claude, project, home, "First prompt", model))
    session = out["session_id"]
    records = _fired(log)
    events = [r["stdin"] for r in records]
    assert [e["hook_event_name"] for e in events] == [
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "SessionEnd",
    ]
    transcript = transcript_for(home, session)
    assert transcript is not None
    for event in events:
        assert event["session_id"] == session
        assert event["transcript_path"] == str(transcript)
        assert event["cwd"] == cwd
    for record in records:  # hooks run in the project directory, told where it is
        assert record["cwd"] == cwd and record["env"]["CLAUDE_PROJECT_DIR"] == cwd
    start, prompt, stop, end = events
    assert start["source"] == "startup"
    assert prompt["prompt"] == "First prompt" and prompt["permission_mode"] == "default"
    assert stop["stop_hook_active"] is False and stop["last_assistant_message"] == "First answer."
    assert end["reason"] == "other"  # SessionEnd fires in -p mode too
    # Both hooks' additionalContext reached the model (as mid-conversation system text).
    sent = model_input(model.turns[0])
    assert "SessionStart hook additional context: MARKER-123 (startup)" in sent
    assert "UserPromptSubmit hook additional context: PROMPT-MARKER-456" in sent
    assert "MARKER-123" not in model.turns[0].system_text

    # 2. --resume <id> continues the same session (same id, same transcript): source "resume".
    with ScriptedModel([say("Second answer.")]) as model:
        again = ok(run_claude(claude, project, home, "Second prompt", model, args=["--resume", session]))
    assert again["session_id"] == session
    events = [r["stdin"] for r in _fired(log)][4:]
    assert [(e["hook_event_name"], e.get("source")) for e in events] == [
        ("SessionStart", "resume"),
        ("UserPromptSubmit", None),
        ("Stop", None),
        ("SessionEnd", None),
    ]
    assert all(e["session_id"] == session and e["transcript_path"] == str(transcript) for e in events)
    assert "MARKER-123 (resume)" in model_input(model.turns[0])
    # The resumed request carries the earlier exchange.
    assert "First prompt" in model_input(model.turns[0]) and "First answer." in model_input(model.turns[0])

    # 3. /compact with --continue: PreCompact(manual), then SessionStart(compact), PostCompact.
    with ScriptedModel([]) as model:
        ok(run_claude(claude, project, home, "/compact", model, args=["--continue"]))
    assert [r.kind for r in model.requests if r.kind != "other"] == ["compact"]
    events = [r["stdin"] for r in _fired(log)][8:]
    names = [e["hook_event_name"] for e in events]
    assert names[:1] == ["SessionStart"] and events[0]["source"] == "resume"
    assert "PreCompact" in names and "PostCompact" in names and names[-1] == "SessionEnd"
    pre = next(e for e in events if e["hook_event_name"] == "PreCompact")
    assert pre["trigger"] == "manual" and pre["custom_instructions"] is None
    assert any(e["hook_event_name"] == "SessionStart" and e["source"] == "compact" for e in events)
    post = next(e for e in events if e["hook_event_name"] == "PostCompact")
    assert (
        "Scripted compaction" in post["compact_summary"] or "scripted conversation" in post["compact_summary"]
    )
    assert "UserPromptSubmit" not in names  # a local slash command is no prompt
    fired = len(_fired(log))

    # 4. A second plain `claude -p` in the same project is a new session: source "startup".
    with ScriptedModel([say("Fresh answer.")]) as model:
        fresh = ok(run_claude(claude, project, home, "Fresh prompt", model))
    assert fresh["session_id"] != session
    events = [r["stdin"] for r in _fired(log)][fired:]
    assert events[0]["hook_event_name"] == "SessionStart" and events[0]["source"] == "startup"
    assert {e["session_id"] for e in events} == {fresh["session_id"]}
    assert len(session_files(home)) == 2

    # The resumed and compacted transcript parses into the conversation, without the summary.
    got = transcripts.parse_file(transcript)
    assert [(t.role, t.text) for t in got.turns] == [
        ("user", "First prompt"),
        ("assistant", "First answer."),
        ("user", "Second prompt"),
        ("assistant", "Second answer."),
    ]
    assert not got.problems


PROBE_SCRIPT = """\
import json, os, sys, time

event = json.load(sys.stdin)
log, mode = sys.argv[1], sys.argv[2]
path = event.get("transcript_path") or ""
with open(log, "a") as f:
    f.write(json.dumps({"event": event["hook_event_name"], "transcript_exists": os.path.exists(path)}) + "\\n")
if mode == "plain":
    print("PLAIN-CONTEXT-789")
elif mode == "block":
    print("no prompts today", file=sys.stderr)
    sys.exit(2)
elif mode == "slow":
    time.sleep(2)
    with open(log, "a") as f:
        f.write(json.dumps({"event": event["hook_event_name"], "finished": True}) + "\\n")
"""


def test_hook_protocol_details(claude: Path, home: Path, project: Path, tmp_path: Path) -> None:
    script, log = tmp_path / "probe.py", tmp_path / "probe.jsonl"
    script.write_text(PROBE_SCRIPT)

    def hook(mode: str, **extra: Any) -> list[dict[str, Any]]:
        command = " ".join(shlex.quote(str(p)) for p in (sys.executable, script, log, mode))
        return [{"hooks": [{"type": "command", "command": command, **extra}]}]

    # Plain (non-JSON) stdout of SessionStart is context too; a SessionEnd hook gets 1.5 s
    # unless its own `timeout` asks for more (here 10 s, so the slow hook finishes).
    hooks = {"SessionStart": hook("plain"), "Stop": hook("record"), "SessionEnd": hook("slow", timeout=10)}
    user_settings(home, {"hooks": hooks})
    with ScriptedModel([say("Answer.")]) as model:
        out = ok(run_claude(claude, project, home, "Hello", model))
    assert "SessionStart:startup hook success: PLAIN-CONTEXT-789" in model_input(model.turns[0])
    assert _fired(log) == [
        # A fresh session's transcript file does not exist yet when SessionStart runs.
        {"event": "SessionStart", "transcript_exists": False},
        {"event": "Stop", "transcript_exists": True},
        {"event": "SessionEnd", "transcript_exists": True},
        {"event": "SessionEnd", "finished": True},
    ]
    assert transcript_for(home, out["session_id"]) is not None

    # Exit code 2 from UserPromptSubmit blocks the prompt: the model is never asked.
    log.unlink()
    user_settings(home, {"hooks": {"UserPromptSubmit": hook("block")}})
    with ScriptedModel([say("never sent")]) as model:
        run = run_claude(claude, project, home, "Blocked prompt", model)
    assert run.returncode == 0 and run.output is not None, run.describe()
    assert "blocked by hook" in run.output["result"] and "no prompts today" in run.output["result"]
    assert model.turns == [] and model.remaining == 1


def _post(model: ScriptedModel, path: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        model.url + path, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_scripted_model_keeps_side_requests_off_the_script() -> None:
    """Without the CLI: what each kind of request gets, and that only turns use the script."""
    turn = {"model": "claude-opus-5-5", "max_tokens": 4096, "tools": [{"name": "ToolSearch"}]}
    with ScriptedModel([call("Read", {"file_path": "/x"}, preamble="Looking."), say("Done.")]) as model:
        title = _post(model, "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 512, "messages": []})
        counted = _post(model, "/v1/messages/count_tokens", {"messages": []})
        first = _post(model, "/v1/messages?beta=true", {**turn, "stream": True, "messages": []})
        compact = {
            "role": "user",
            "content": "Your task is to create a detailed summary of the conversation so far",
        }
        summary = _post(model, "/v1/messages", {**turn, "messages": [compact]})
        second = _post(model, "/v1/messages", {**turn, "messages": []})  # not streamed: one JSON body
        over = _post(model, "/v1/messages", {**turn, "messages": []})
    assert title[0] == 200 and json.loads(title[1])["content"] == [{"type": "text", "text": "OK"}]
    assert counted[0] == 200 and "input_tokens" in json.loads(counted[1])
    events = [line[7:] for line in first[1].splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert '"input_json_delta"' in first[1] and '"stop_reason": "tool_use"' in first[1]
    assert "<summary>" in json.loads(summary[1])["content"][0]["text"]
    assert json.loads(second[1])["content"] == [{"type": "text", "text": "Done."}]
    assert over[0] == 400 and "no reply left" in over[1]
    assert [r.kind for r in model.requests] == [
        "side",
        "count_tokens",
        "turn",
        "compact",
        "turn",
        "unscripted",
    ]
    assert model.remaining == 0
