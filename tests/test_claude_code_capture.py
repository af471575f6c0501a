"""Automatic memory with the real Claude Code CLI (`claude -p`, pinned) against a scripted model.

The whole loop, as a user gets it: `langmem-mcp install claude-code --hooks` (the CLI, as a
subprocess); a first session whose user states facts; the ingest hooks queue them and the server or
a detached worker stores them; a second session whose SessionStart context, as the scripted model
receives it in its request, holds them and says the first session waits to be distilled; and
`search_memory` from that session finds them. `/mcp__memory__distill` hands the waiting sessions to
the agent as tasks, which it completes with `extract_memories`; after that nothing waits. Then
`uninstall`. The CLI is installed with npm on first use (skipped, saying why, without npm).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.capture_support import workers_of
from tests.claude_code import (
    ClaudeRun,
    ScriptedModel,
    call,
    calls,
    run_claude,
    say,
    tool_result_text,
    transcript_for,
    user_settings,
)
from tests.mcp_client import REPO

pytestmark = pytest.mark.process

NO_LLM = {"LANGMEM_MCP_LLM": "none"}  # the scripted endpoint is Claude Code's, not ours


def langmem(home: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_MCP_", "ANTHROPIC_"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", *args],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(run: ClaudeRun) -> dict[str, Any]:
    assert run.returncode == 0 and run.output is not None, run.describe()
    assert run.output["is_error"] is False, run.describe()
    return run.output


def model_input(body: dict[str, Any]) -> str:
    return json.dumps(body.get("messages"), ensure_ascii=False)


def texts(value: Any) -> list[str]:
    """Every string in a request's messages (the texts, decoded)."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [t for item in items for t in texts(item)]


def rows(data: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "memory.sqlite3", timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def wait_until_stored(data: Path, session: str, timeout: float = 90.0) -> None:
    """Poll (with a deadline) until the session's turns and summary are stored and every capture
    worker has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            queued = rows(data, "SELECT count(*) FROM capture_jobs")[0][0]
            summary = rows(data, "SELECT summary_id FROM capture_sessions WHERE thread_id = ?", (session,))
        except sqlite3.OperationalError:  # not created yet
            queued, summary = 1, []
        if queued == 0 and summary and summary[0][0] and not workers_of(data):
            return
        time.sleep(0.2)
    errors = (data / "hook-errors.jsonl").read_text() if (data / "hook-errors.jsonl").exists() else ""
    raise AssertionError(f"session {session} not stored within {timeout}s; hook errors: {errors}")


def test_capture_loop_with_the_real_claude_code(claude: Path, tmp_path: Path) -> None:
    home, project, data = tmp_path / "home", tmp_path / "project", tmp_path / "data"
    home.mkdir()
    project.mkdir()
    user_settings(home, {"permissions": {"allow": ["mcp__memory"]}})

    # 1. install, as a user would (with the llm tools: the `distill` prompt and extract_memories)
    res = langmem(
        home,
        project,
        *("install", "claude-code", "--hooks", "--prompt-recall"),  # serves distill (the llm group)
        *("--data-dir", str(data)),
    )
    assert res.returncode == 0, res.stderr
    hooks = json.loads((project / ".claude" / "settings.json").read_text())["hooks"]
    assert set(hooks) == {"SessionStart", "UserPromptSubmit", "Stop", "PreCompact", "SessionEnd"}
    assert "memory" in json.loads((project / ".mcp.json").read_text())["mcpServers"]

    # 2. a first session states facts
    facts = "Remember: my favourite editor is Helix, and this project deploys to Fly.io in region ams."
    with ScriptedModel([say("Noted: Helix, and deploys go to Fly.io (ams).")]) as model:
        first = ok(run_claude(claude, project, home, facts, model, extra_env=NO_LLM))
    session = first["session_id"]

    # 3. the ingest hooks stored them: a thread with the transcript's ids, conversation memories
    wait_until_stored(data, session)
    transcript = transcript_for(home, session)
    assert transcript is not None
    line_ids = {json.loads(line).get("uuid") for line in transcript.read_text().splitlines()}
    messages = rows(data, "SELECT id, role, content FROM svc_messages WHERE thread_id = ?", (session,))
    assert [(r, json.loads(c)) for _, r, c in messages] == [
        ("user", facts),
        ("assistant", "Noted: Helix, and deploys go to Fly.io (ams)."),
    ]
    assert {i for i, _, _ in messages} <= line_ids  # the transcript's own line ids
    conversation = rows(
        data, "SELECT content FROM memories WHERE namespace = ?", ("projects/project/conversations",)
    )
    assert ("User: " + facts,) in conversation
    assert not (data / "hook-errors.jsonl").exists()

    # 4. a second session: the SessionStart context reaches the model's request, and
    # 5. search_memory finds the facts
    seen: dict[str, str] = {}

    def first_turn(body: dict[str, Any]):
        seen["input"] = model_input(body)
        return call("ToolSearch", {"query": "select:mcp__memory__search_memory"})

    namespace = ["projects", "project", "conversations"]
    script = [
        first_turn,
        call("mcp__memory__search_memory", {"query": "favourite editor", "namespace": namespace}),
        say("You use Helix."),
    ]
    with ScriptedModel(script) as model:
        second = ok(run_claude(claude, project, home, "Which editor do I use?", model, extra_env=NO_LLM))
    assert second["result"] == "You use Helix." and second["permission_denials"] == []
    sent = seen["input"]
    assert "SessionStart hook additional context: Long-term memory (langmem-mcp)" in sent
    assert "Helix" in sent and "Fly.io" in sent
    # no model on the server: the first session waits to be distilled, and the context says how
    assert (
        "Waiting for a model: 1 conversation waits to be distilled into memories; the MCP prompt "
        "`distill` walks you through it" in sent
    )
    assert "/mcp__<server name>__distill" in sent
    # prompt recall: the first session's turn, recalled for this prompt
    recalled = sent.split("UserPromptSubmit hook additional context: ", 1)[1]
    assert recalled.startswith("Memories (langmem-mcp)") and "favourite editor is Helix" in recalled[:600]
    found = json.loads(tool_result_text(model.turns[-1].tool_results()[-1]))["memories"]
    assert found[0]["content"] == "User: " + facts
    wait_until_stored(data, second["session_id"])

    # /mcp__memory__distill: the agent is the model. It gets a task per waiting session and
    # completes each with the extract_memories call the task gives.
    tasks: list[dict[str, Any]] = []
    fact = "The user's editor is Helix; the project deploys to Fly.io (ams)."

    def read_tasks(body: dict[str, Any]) -> Any:
        for text in texts(body.get("messages")):
            tasks.extend(json.loads(m) for m in re.findall(r"^extract_memories\((\{.*\})\)$", text, re.M))
        return call("ToolSearch", {"query": "select:mcp__memory__extract_memories"})

    def complete(body: dict[str, Any]) -> Any:
        return calls(*[("mcp__memory__extract_memories", {**t, "memories": [fact]}) for t in tasks])

    with ScriptedModel([read_tasks, complete, say("Distilled.")]) as model:
        ok(run_claude(claude, project, home, "/mcp__memory__distill", model, extra_env=NO_LLM))
    assert "2 conversations wait to be distilled" in model_input(model.turns[0].body)
    assert len(tasks) == 2, tasks  # the first two sessions
    results = [json.loads(tool_result_text(r)) for r in model.turns[-1].tool_results()[-2:]]
    assert [(r["method"], r["finished"]) for r in results] == [("host_agent", True)] * 2, results
    assert rows(data, "SELECT count(*) FROM memories WHERE content = ?", (fact,)) == [(1,)]

    # The MCP prompts are slash commands: /mcp__memory__recall (Claude Code passes one word per
    # argument) renders the recalled memories into the prompt the model receives. Nothing waits now.
    with ScriptedModel([say("Helix, as recalled.")]) as model:
        ok(run_claude(claude, project, home, "/mcp__memory__recall editor", model, extra_env=NO_LLM))
    recalled = model_input(model.turns[0].body)
    assert "Here is what long-term memory holds about 'editor'" in recalled and "Helix" in recalled
    assert "Waiting for a model" not in recalled and f"About the user:\\n- {fact}" in recalled

    # 6. uninstall removes what install added, and the next session runs without our hooks
    res = langmem(home, project, "uninstall", "claude-code")
    assert res.returncode == 0, res.stderr
    assert not (project / ".mcp.json").exists()
    settings_file = project / ".claude" / "settings.json"
    assert not settings_file.exists() or "langmem" not in settings_file.read_text()
    with ScriptedModel([say("Plain answer.")]) as model:
        ok(run_claude(claude, project, home, "Anything?", model, extra_env=NO_LLM))
    assert "langmem-mcp" not in model_input(model.turns[0].body)


def test_the_plugin_example_with_the_real_claude_code(claude: Path, tmp_path: Path) -> None:
    """examples/claude-code-plugin loaded with --plugin-dir: its hooks capture the first session
    and give the second its context; its server entry starts the memory tools."""
    scripts = Path(sys.executable).parent
    if not (scripts / "langmem-mcp").is_file():
        pytest.skip(f"no langmem-mcp console script beside {sys.executable} (install the package to run it)")
    home, project, data = tmp_path / "home", tmp_path / "project", tmp_path / "data"
    home.mkdir()
    project.mkdir()
    user_settings(home, {})
    plugin = ["--plugin-dir", str(REPO / "examples" / "claude-code-plugin")]
    env = {**NO_LLM, "LANGMEM_MCP_DATA_DIR": str(data), "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}"}

    facts = "Note for later: the staging cluster is called kestrel-2."
    with ScriptedModel([say("kestrel-2, noted.")]) as model:
        first = ok(run_claude(claude, project, home, facts, model, args=plugin, extra_env=env))
    assert "mcp__plugin_langmem-memory_memory__search_memory" in model_input(model.turns[0].body)
    wait_until_stored(data, first["session_id"])

    with ScriptedModel([say("It is kestrel-2.")]) as model:
        second = ok(run_claude(claude, project, home, "Staging cluster?", model, args=plugin, extra_env=env))
    sent = model_input(model.turns[0].body)
    assert "SessionStart hook additional context: Long-term memory (langmem-mcp)" in sent
    assert "kestrel-2" in sent
    wait_until_stored(data, second["session_id"])
