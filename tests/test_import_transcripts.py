"""`langmem-mcp import-transcripts`, run as a user runs it: every Claude Code session under
~/.claude/projects by default (subagents' transcripts skipped), Codex rollouts and OpenAI message
lists by path; malformed lines reported with file and line, the rest imported; --dry-run writes
nothing; importing again, or importing what the hooks captured, stores nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.capture_support import Transcript
from tests.mcp_client import REPO

pytestmark = pytest.mark.process

FIXTURES = Path(__file__).parent / "data" / "transcripts"
MCP_SESSION = "952773de-e59d-4349-9f1a-3e95d3c5be9f"
RESUMED_SESSION = "c22e7abf-aac9-43ba-b55e-40509cc1d411"


def cli(home: Path, data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_MCP_", "ANTHROPIC_", "CLAUDE"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), LANGMEM_MCP_DATA_DIR=str(data), LANGMEM_MCP_LLM="none")
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", *args],
        env=env,
        cwd=home,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(data: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "memory.sqlite3") as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose ~/.claude/projects holds two sessions of one project and a subagent's transcript."""
    projects = tmp_path / "home" / ".claude" / "projects" / "-home-user-project"
    projects.mkdir(parents=True)
    shutil.copy(FIXTURES / "claude-code-mcp.jsonl", projects / f"{MCP_SESSION}.jsonl")
    shutil.copy(FIXTURES / "claude-code-resumed-compacted.jsonl", projects / f"{RESUMED_SESSION}.jsonl")
    subagents = projects / RESUMED_SESSION / "subagents"
    subagents.mkdir(parents=True)
    shutil.copy(FIXTURES / "claude-code-subagent.jsonl", subagents / "agent-a4e338da86fd50f8f.jsonl")
    return tmp_path / "home"


def test_default_paths_dry_run_and_idempotence(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    dry = cli(home, data, "import-transcripts", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"session {MCP_SESSION}, project project: 3 new turns" in dry.stdout
    assert f"session {RESUMED_SESSION}, project project: 7 new turns" in dry.stdout
    assert "subagents" not in dry.stdout
    assert "would import 10 turns from 2 files (dry run: nothing written)" in dry.stdout
    assert not data.exists()

    res = cli(home, data, "import-transcripts")
    assert res.returncode == 0, res.stderr
    assert "imported 10 new turns from 2 sessions in 2 files; 2 jobs stored" in res.stderr
    assert "importing [" in res.stderr  # the progress bar
    threads = dict(rows(data, "SELECT thread_id, count(*) FROM svc_messages GROUP BY thread_id"))
    assert threads == {MCP_SESSION: 3, RESUMED_SESSION: 7}
    summaries = rows(data, "SELECT count(*) FROM memories WHERE namespace LIKE 'threads/%/summary'")
    assert summaries == [(2,)]
    turns = rows(data, "SELECT content FROM memories WHERE namespace = 'projects/project/conversations'")
    assert ("User: Remember that my cat is called Tomasz.",) in turns

    again = cli(home, data, "import-transcripts")
    assert (
        again.returncode == 0
        and "imported 0 new turns from 0 sessions in 2 files; 0 jobs stored" in again.stderr
    )
    assert dict(rows(data, "SELECT thread_id, count(*) FROM svc_messages GROUP BY thread_id")) == threads
    dry = cli(home, data, "import-transcripts", "--dry-run")
    assert "would import 0 turns" in dry.stdout


def test_formats_by_path_and_malformed_lines(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    broken = tmp_path / "broken.jsonl"
    lines = (FIXTURES / "claude-code-mcp.jsonl").read_text().splitlines(keepends=True)
    lines.insert(2, '{"type": "user", "message": \n')  # a cut line, as a crash leaves it
    broken.write_text("".join(lines))
    codex = next((FIXTURES / "codex").glob("*.jsonl"))
    res = cli(
        home, data, "import-transcripts", str(broken), str(codex), str(FIXTURES / "openai-messages.json")
    )
    assert res.returncode == 0, res.stderr
    assert f"{broken}:3: invalid JSON" in res.stderr
    assert "imported 12 new turns from 3 sessions in 3 files" in res.stderr  # 3 + 4 + 5
    sources = dict(rows(data, "SELECT source, count(*) FROM capture_sessions GROUP BY source"))
    assert sources == {"claude-code": 1, "codex": 1, "openai": 1}
    projects = {r[0] for r in rows(data, "SELECT project FROM capture_sessions")}
    assert projects == {"project", "api", ""}  # Codex's cwd names its project; a message list has none
    assert cli(home, data, "import-transcripts", str(tmp_path / "nope")).returncode == 2


def test_the_same_ids_as_the_hooks(home: Path, tmp_path: Path) -> None:
    """A session the hooks captured in part, imported whole: only the rest is added, under the
    transcript's own line ids."""
    data = tmp_path / "data"
    t = Transcript(home / ".claude" / "projects" / "-tmp-shop" / "live.jsonl", tmp_path / "shop")
    t.exchange("The queue is RabbitMQ.", "Noted.")
    stop = cli(home, data, "hook", "stop", stdin=json.dumps(t.hook_input("Stop")))
    assert stop.returncode == 0 and stop.stdout == ""
    t.exchange("Consumers ack late.", "Noted too.")
    res = cli(home, data, "import-transcripts", str(t.path.parent))  # stored when it returns
    assert res.returncode == 0, res.stderr
    assert "imported 2 new turns" in res.stderr  # the hook accepted the first two already
    assert rows(data, "SELECT count(*) FROM capture_jobs") == [(0,)]
    ids = [
        r[0] for r in rows(data, "SELECT id FROM svc_messages WHERE thread_id = ? ORDER BY seq", t.session_id)
    ]
    assert sorted(ids) == sorted(t.ids) and len(ids) == 4
