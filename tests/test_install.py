"""`langmem-mcp install` against a temporary HOME (and APPDATA, XDG_CONFIG_HOME) for each host:
the file is right, a second install updates in place, other servers survive, a backup is kept,
--print writes nothing, and the written entry really starts this server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.mcp_client import REPO

pytestmark = pytest.mark.process

CASES = {
    # host: (path under the fake home or project, servers key)
    "claude-desktop": (".config/Claude/claude_desktop_config.json", "mcpServers"),
    "claude-code": ("project/.mcp.json", "mcpServers"),
    "cursor": (".cursor/mcp.json", "mcpServers"),
    "vscode": ("project/.vscode/mcp.json", "servers"),
}


def install(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGMEM_MCP_")}
    env.update(HOME=str(home), APPDATA=str(home / "AppData"), PYTHONPATH=str(REPO))
    env.pop("XDG_CONFIG_HOME", None)
    (home / "project").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "install", *args],
        env=env,
        cwd=home / "project",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("host", list(CASES))
def test_install_merges_and_updates_in_place(tmp_path: Path, host: str) -> None:
    rel, key = CASES[host]
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    other = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]}
    path.write_text(json.dumps({key: {"filesystem": other}, "theme": "dark"}))

    first = install(tmp_path, host, "--data-dir", str(tmp_path / "data-1"))
    assert first.returncode == 0, first.stderr
    config = json.loads(path.read_text())
    assert config["theme"] == "dark" and config[key]["filesystem"] == other
    entry = config[key]["memory"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    assert entry["env"]["LANGMEM_MCP_DATA_DIR"] == str(tmp_path / "data-1")
    if host == "vscode":
        assert entry["type"] == "stdio"
    assert json.loads((path.parent / (path.name + ".bak")).read_text())[key] == {"filesystem": other}

    second = install(tmp_path, host, "--data-dir", str(tmp_path / "data-2"))
    assert second.returncode == 0 and "updated 'memory'" in second.stdout
    config = json.loads(path.read_text())
    assert list(config[key]) == ["filesystem", "memory"]  # in place, not duplicated
    assert config[key]["memory"]["env"]["LANGMEM_MCP_DATA_DIR"] == str(tmp_path / "data-2")
    assert config[key]["filesystem"] == other

    named = install(tmp_path, host, "--name", "work-memory")
    assert named.returncode == 0
    assert set(json.loads(path.read_text())[key]) == {"filesystem", "memory", "work-memory"}


def test_print_writes_nothing(tmp_path: Path) -> None:
    res = install(tmp_path, "cursor", "--print", "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout.split("\n", 1)[1])
    assert shown["mcpServers"]["memory"]["env"]["LANGMEM_MCP_DATA_DIR"] == str(tmp_path / "d")
    assert not (tmp_path / ".cursor").exists()


def test_claude_code_user_scope_and_broken_file(tmp_path: Path) -> None:
    (tmp_path / ".claude.json").write_text('{"numStartups": 3, "mcpServers": {}}')
    assert install(tmp_path, "claude-code", "--scope", "user").returncode == 0
    config = json.loads((tmp_path / ".claude.json").read_text())
    assert config["numStartups"] == 3 and "memory" in config["mcpServers"]

    broken = tmp_path / ".cursor" / "mcp.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    res = install(tmp_path, "cursor")
    assert res.returncode == 1 and "not valid JSON" in res.stderr
    assert broken.read_text() == "{not json"  # left untouched


async def test_written_entry_starts_the_server(tmp_path: Path) -> None:
    """Spawn the server exactly as the host would, from the entry alone (no inherited env)."""
    assert install(tmp_path, "claude-desktop", "--data-dir", str(tmp_path / "data")).returncode == 0
    entry = json.loads((tmp_path / CASES["claude-desktop"][0]).read_text())["mcpServers"]["memory"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"], cwd="/")
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                assert "search_memory" in {t.name for t in (await s.list_tools()).tools}
                await s.call_tool("manage_memory", {"content": "installed correctly"})
    assert (tmp_path / "data" / "memory.sqlite3").exists()
