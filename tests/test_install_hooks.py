"""`langmem-mcp install claude-code --hooks` and `uninstall claude-code`, run as a user runs them:
the hooks merge into the project's (or the user's) Claude Code settings beside other hooks, a
backup is kept, installing again changes nothing, --print writes nothing, a broken file is left
alone, and uninstall gives back exactly the files there were before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from langmem_mcp.commands.install import HOOK_EVENTS, OPT_IN_EVENTS
from tests.mcp_client import REPO

pytestmark = pytest.mark.process

OTHER_HOOK = {"hooks": [{"type": "command", "command": "echo formatted"}]}
THEIR_SETTINGS = {"model": "opus", "hooks": {"Stop": [OTHER_HOOK], "PostToolUse": [OTHER_HOOK]}}


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGMEM_MCP_")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    (home / "project").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", *args],
        env=env,
        cwd=home / "project",
        capture_output=True,
        text=True,
        timeout=60,
    )


def ours(settings: dict[str, Any]) -> dict[str, list[str]]:
    """Event → the commands of our hooks in it."""
    return {
        event: [h["command"] for g in groups for h in g["hooks"] if " hook " in h["command"]]
        for event, groups in settings.get("hooks", {}).items()
        if any(" hook " in h["command"] for g in groups for h in g["hooks"])
    }


def test_install_merges_hooks_and_uninstall_restores_the_files(tmp_path: Path) -> None:
    settings_file = tmp_path / "project" / ".claude" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    original = json.dumps(THEIR_SETTINGS, indent=2)
    settings_file.write_text(original)
    data = tmp_path / "data"

    res = cli(tmp_path, "install", "claude-code", "--hooks", "--data-dir", str(data))
    assert res.returncode == 0, res.stderr
    assert "capture hooks (SessionStart, Stop, PreCompact, SessionEnd)" in res.stdout
    config = json.loads(settings_file.read_text())
    assert config["model"] == "opus" and config["hooks"]["PostToolUse"] == [OTHER_HOOK]
    assert config["hooks"]["Stop"][0] == OTHER_HOOK  # theirs first, untouched
    commands = ours(config)
    assert set(commands) == {"SessionStart", "Stop", "PreCompact", "SessionEnd"}
    for event, name in [("SessionStart", "session-start"), ("Stop", "stop"), ("SessionEnd", "session-end")]:
        assert commands[event] == [f"{commands[event][0].split(' hook ')[0]} hook {name} --data-dir {data}"]
    start = config["hooks"]["SessionStart"][-1]
    assert start["matcher"] == "startup|resume|clear|compact"
    assert config["hooks"]["SessionEnd"][-1]["hooks"][0]["timeout"] == 10  # more than SessionEnd's 1.5 s
    assert json.loads((settings_file.parent / "settings.json.bak").read_text()) == THEIR_SETTINGS
    mcp = json.loads((tmp_path / "project" / ".mcp.json").read_text())
    assert mcp["mcpServers"]["memory"]["env"]["LANGMEM_MCP_DATA_DIR"] == str(data)
    # the session-start context points at the distill prompt: the llm group serves it
    assert mcp["mcpServers"]["memory"]["env"]["LANGMEM_MCP_TOOLS"] == "memory,llm"

    # Again, and again with prompt recall: in place, never duplicated; then without it: gone.
    before = settings_file.read_text()
    assert cli(tmp_path, "install", "claude-code", "--hooks", "--data-dir", str(data)).returncode == 0
    assert settings_file.read_text() == before
    assert cli(tmp_path, "install", "claude-code", "--prompt-recall", "--data-dir", str(data)).returncode == 0
    with_recall = ours(json.loads(settings_file.read_text()))
    assert len(with_recall) == 5 and all(len(c) == 1 for c in with_recall.values())
    assert with_recall["UserPromptSubmit"][0].endswith(f"hook user-prompt-submit --data-dir {data}")
    assert cli(tmp_path, "install", "claude-code", "--hooks", "--data-dir", str(data)).returncode == 0
    assert "UserPromptSubmit" not in json.loads(settings_file.read_text())["hooks"]

    # --print shows both results and writes nothing.
    shown = cli(tmp_path, "install", "claude-code", "--prompt-recall", "--print", "--data-dir", str(data))
    assert shown.returncode == 0 and settings_file.read_text() == before
    assert f"# would write {settings_file}:" in shown.stdout and "user-prompt-submit" in shown.stdout

    # Uninstall gives back their file as it was, and removes the .mcp.json install created.
    res = cli(tmp_path, "uninstall", "claude-code")
    assert res.returncode == 0, res.stderr
    assert "removed 4 capture hooks" in res.stdout and "removed server 'memory'" in res.stdout
    assert json.loads(settings_file.read_text()) == THEIR_SETTINGS
    assert not (tmp_path / "project" / ".mcp.json").exists()
    again = cli(tmp_path, "uninstall", "claude-code")
    assert again.returncode == 0 and "nothing of langmem-mcp found" in again.stdout


def test_user_scope_and_a_broken_settings_file(tmp_path: Path) -> None:
    res = cli(tmp_path, "install", "claude-code", "--hooks", "--scope", "user")
    assert res.returncode == 0, res.stderr
    user = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    assert set(ours(user)) == {"SessionStart", "Stop", "PreCompact", "SessionEnd"}
    assert "memory" in json.loads((tmp_path / ".claude.json").read_text())["mcpServers"]
    assert not (tmp_path / "project" / ".claude").exists()
    assert cli(tmp_path, "uninstall", "claude-code", "--scope", "user").returncode == 0
    assert not (tmp_path / ".claude" / "settings.json").exists()

    broken = tmp_path / "project" / ".claude" / "settings.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"hooks": {"Stop": "not a list"}}')
    res = cli(tmp_path, "install", "claude-code", "--hooks")
    assert res.returncode == 1 and '"hooks.Stop" in the settings is not a list' in res.stderr
    assert broken.read_text() == '{"hooks": {"Stop": "not a list"}}'
    assert not (tmp_path / "project" / ".mcp.json").exists()  # nothing half-written
    assert cli(tmp_path, "install", "cursor", "--hooks").returncode == 2


def test_install_widens_the_tool_list(tmp_path: Path) -> None:
    assert cli(tmp_path, "install", "cursor", "--tools", "memory,llm").returncode == 0
    entry = json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]["memory"]
    assert entry["env"]["LANGMEM_MCP_TOOLS"] == "memory,llm"
    # without hooks a host gets the default list; with them, --tools still decides
    assert cli(tmp_path, "install", "claude-code").returncode == 0
    mcp = tmp_path / "project" / ".mcp.json"
    assert "LANGMEM_MCP_TOOLS" not in json.loads(mcp.read_text())["mcpServers"]["memory"]["env"]
    assert cli(tmp_path, "install", "claude-code", "--hooks", "--tools", "memory").returncode == 0
    assert json.loads(mcp.read_text())["mcpServers"]["memory"]["env"]["LANGMEM_MCP_TOOLS"] == "memory"


def test_the_plugin_example_runs_the_same_hooks() -> None:
    """examples/claude-code-plugin: a Claude Code plugin with the same hooks and server entry."""
    root = REPO / "examples" / "claude-code-plugin"
    manifest = json.loads((root / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "langmem-memory" and manifest["version"]
    hooks = json.loads((root / "hooks" / "hooks.json").read_text())["hooks"]
    assert set(hooks) == set(HOOK_EVENTS) - set(OPT_IN_EVENTS)
    for event, [group] in hooks.items():
        name, matcher, timeout = HOOK_EVENTS[event]
        assert group.get("matcher") == matcher
        assert group["hooks"] == [
            {"type": "command", "command": f"langmem-mcp hook {name}", "timeout": timeout}
        ]
    servers = json.loads((root / ".mcp.json").read_text())["mcpServers"]
    assert servers["memory"]["command"] == "langmem-mcp"
