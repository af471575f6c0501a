"""Regenerate tests/data/transcripts/claude-code-*.jsonl from real Claude Code sessions.

    python -m tests.make_transcript_fixtures

Runs the pinned CLI against the scripted model (tests/claude_code.py) and copies the session
files it wrote, scrubbed: machine paths become /home/user/..., the OS version a placeholder,
and bookkeeping lines (system-prompt snapshots, request shapes, tool listings) have long
strings, long lists and deep objects cut to keep the fixtures small. Conversation lines
(``user``/``assistant``) are kept verbatim.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.claude_code import (
    REPO,
    Reply,
    ScriptedModel,
    call,
    calls,
    ensure_claude,
    langmem_server,
    run_claude,
    say,
    transcript_for,
    user_settings,
    write_mcp_json,
)

OUT = Path(__file__).with_name("data") / "transcripts"
KEEP_VERBATIM = {"user", "assistant"}
MAX_STRING = 160
MAX_ITEMS = 4
MAX_DEPTH = 4

HOOK = """\
import json, sys
event = json.load(sys.stdin)
if event.get("hook_event_name") == "SessionStart":
    out = {"hookEventName": "SessionStart", "additionalContext": "Remembered: the user prefers tabs."}
    print(json.dumps({"hookSpecificOutput": out}))
"""


def _shorten(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…[trimmed]"
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:
        return "…[trimmed]"
    if isinstance(value, list):
        return [_shorten(v, depth + 1) for v in value[:MAX_ITEMS]] + (
            ["…[trimmed]"] if len(value) > MAX_ITEMS else []
        )
    if isinstance(value, dict):
        return {k: _shorten(v, depth + 1) for k, v in value.items()}
    return value


def scrub(text: str, tmp: Path) -> str:
    home, project = str(tmp / "home"), str(tmp / "project")
    sanitized = re.sub(r"[^A-Za-z0-9]", "-", project)
    lines = []
    for line in text.splitlines():
        obj = json.loads(line)
        if obj.get("type") not in KEEP_VERBATIM:
            obj = _shorten(obj)
        out = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        for old, new in (
            (sanitized, "-home-user-project"),
            (project, "/home/user/project"),
            (home, "/home/user"),
            (str(tmp), "/home/user/tmp"),
            (sys.executable, "python3"),
            (str(REPO), "/home/user/src/langmem-mcp"),
        ):
            out = out.replace(old, new)
        out = re.sub(r"/tmp/claude-\d+/", "/tmp/claude/", out)
        out = re.sub(r"/tmp/cc-socks/\d+\.sock", "/tmp/cc-socks/0.sock", out)
        out = re.sub(r"OS Version: [^\\\"]+", "OS Version: Linux 6.0.0", out)
        lines.append(out)
    return "\n".join(lines) + "\n"


def main() -> None:
    claude, why = ensure_claude()
    if claude is None:
        raise SystemExit(why)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cc-fixtures-") as name:
        tmp = Path(name)
        home, project = tmp / "home", tmp / "project"
        home.mkdir()
        project.mkdir()
        hook = tmp / "hook.py"
        hook.write_text(HOOK)
        command = " ".join(shlex.quote(str(p)) for p in (sys.executable, hook))
        write_mcp_json(project, {"memory": langmem_server(tmp / "data")})
        user_settings(
            home,
            {
                "permissions": {"allow": ["mcp__memory", "Bash(echo:*)"]},
                "hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": command}]}]},
            },
        )

        # 1. Memory tools over MCP: tool search, a create, a search, then an answer.
        script = [
            call("ToolSearch", {"query": "select:mcp__memory__manage_memory,mcp__memory__search_memory"}),
            call(
                "mcp__memory__manage_memory",
                {"content": "The user's cat is called Tomasz"},
                preamble="I'll save that.",
            ),
            call("mcp__memory__search_memory", {"query": "cat"}),
            say("Saved: your cat is called **Tomasz**."),
        ]
        with ScriptedModel(script) as model:
            run = run_claude(claude, project, home, "Remember that my cat is called Tomasz.", model)
        assert run.returncode == 0, run.describe()
        first = transcript_for(home, run.session_id)
        assert first is not None
        (OUT / "claude-code-mcp.jsonl").write_text(scrub(first.read_text(), tmp))

        # 2. A session with a Bash call and two tool calls in one message, resumed, compacted,
        #    and continued after the compaction; plus a subagent (sidechain) run.
        script = [
            calls(
                ("Bash", {"command": "echo 'tabs: 4'", "description": "Show the indent setting"}),
                ("Bash", {"command": "echo done", "description": "Finish"}),
                preamble="Let me check the editor settings.",
            ),
            say("Your editor uses tabs, 4 wide."),
        ]
        with ScriptedModel(script) as model:
            run = run_claude(claude, project, home, "Which indentation does my editor use?", model)
        assert run.returncode == 0, run.describe()
        session = run.session_id
        with ScriptedModel([say("Yes: Python files use 4 spaces instead.")]) as model:
            run = run_claude(claude, project, home, "And for Python?", model, args=["--resume", session])
        assert run.returncode == 0, run.describe()
        with ScriptedModel([]) as model:
            run = run_claude(claude, project, home, "/compact", model, args=["--continue"])
        assert run.returncode == 0, run.describe()
        task = "Find the project's style guide and report the indent rule."
        main = [
            call(
                "Agent",
                {
                    "description": "Look up the style guide",
                    "prompt": task,
                    "subagent_type": "general-purpose",
                    "run_in_background": False,
                },
            ),
            say("The style guide agrees: 4 spaces for Python."),
        ]

        def route(body: dict[str, Any]) -> Reply:
            first = json.dumps(body["messages"][0]["content"], ensure_ascii=False)
            if task in first:  # the subagent's own conversation starts with its task
                return say("The style guide says: 4 spaces.")
            return main.pop(0) if main else say("Noted.")

        script = [route] * 4
        with ScriptedModel(script) as model:
            run = run_claude(claude, project, home, "Check the style guide too.", model, args=["--continue"])
        assert run.returncode == 0, run.describe()
        second = transcript_for(home, session)
        assert second is not None
        (OUT / "claude-code-resumed-compacted.jsonl").write_text(scrub(second.read_text(), tmp))
        agents = sorted(second.parent.glob(f"{session}/subagents/*.jsonl"))
        if agents:
            (OUT / "claude-code-subagent.jsonl").write_text(scrub(agents[0].read_text(), tmp))
        for path in OUT.glob("claude-code-*.jsonl"):
            text = path.read_text()
            for leftover in (str(tmp), "/work/", "/root/", sys.executable):
                assert leftover not in text, (path, leftover)
    for path in sorted(OUT.glob("claude-code-*.jsonl")):
        print(f"{path.relative_to(REPO)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
