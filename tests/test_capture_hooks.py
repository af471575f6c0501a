"""`langmem-mcp hook EVENT` as Claude Code runs it: a process reading the event on stdin.

Without a server a detached worker stores what the hooks queued; with a server running on the data
dir, the server stores it and answers prompt recall through its index owner (with the model).
Hooks never fail: bad input, a missing transcript or a database from a newer version print nothing,
exit 0 and are recorded for `doctor`. And a kill: a worker killed while storing a session loses
none of the turns that were accepted, and stores none twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from langmem_mcp.service.capture_accept import queue_lock
from langmem_mcp.store.sqlite import SCHEMA_VERSION
from tests.capture_support import Transcript, workers_of
from tests.claude_code import REPO
from tests.mcp_client import call, memory_session

pytestmark = pytest.mark.process


def environ(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_MCP_", "ANTHROPIC_"))}
    env.update(PYTHONPATH=str(REPO), LANGMEM_MCP_DATA_DIR=str(data), LANGMEM_MCP_LLM="none", **extra)
    env["LANGMEM_MCP_USER_ID"] = "ada"
    return env


def hook(data: Path, event: str, payload: Any, **extra: str) -> subprocess.CompletedProcess[str]:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "hook", event],
        input=text,
        env=environ(data, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def context(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0 and res.stderr == "", res.stderr
    if not res.stdout:
        return ""
    out = json.loads(res.stdout)["hookSpecificOutput"]
    return out["additionalContext"]


def count(data: Path, sql: str, *params: Any) -> int:
    with sqlite3.connect(data / "memory.sqlite3", timeout=10) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def wait_for(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stored(data: Path, session: str, turns: int) -> bool:
    try:
        return (
            count(data, "SELECT count(*) FROM capture_jobs") == 0
            and count(data, "SELECT count(*) FROM svc_messages WHERE thread_id = ?", session) == turns
        )
    except sqlite3.OperationalError:
        return False


def errors(data: Path) -> list[dict[str, Any]]:
    path = data / "hook-errors.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def held_by_another(data: Path) -> bool:
    """Whether someone holds the capture queue's lock (a server, or a worker)."""
    lock = queue_lock(data)
    if lock.try_acquire():
        lock.release()
        return False
    return True


def test_hooks_never_fail_their_host(tmp_path: Path) -> None:
    data = tmp_path / "data"
    t = Transcript(tmp_path / "s.jsonl", tmp_path / "shop")
    # Nothing known yet: nothing printed, nothing created.
    assert context(hook(data, "session-start", t.hook_input("SessionStart", source="startup"))) == ""
    assert context(hook(data, "user-prompt-submit", t.hook_input("UserPromptSubmit", prompt="hi"))) == ""
    assert not data.exists()

    # Bad input, or an event without its transcript: exit 0, print nothing, say why for doctor.
    assert context(hook(data, "stop", "{not json")) == ""
    assert context(hook(data, "stop", {"hook_event_name": "Stop", "session_id": "s"})) == ""
    found = errors(data)
    assert [e["event"] for e in found] == ["Stop", "Stop"]
    assert "JSONDecodeError" in found[0]["error"] and "has no transcript_path" in found[1]["error"]
    assert found[1]["session_id"] == "s"
    # An event it does not know does nothing; bad arguments are recorded (exit 2 would block a prompt).
    assert context(hook(data, "post-compact", t.hook_input("PostCompact"))) == ""
    assert context(hook(data, "stop", t.hook_input("Stop"), LANGMEM_MCP_TOOLS="nope")) == ""
    bad = subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "hook", "stop", "--bogus"],
        input="{}",
        env=environ(data),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (bad.returncode, bad.stdout, bad.stderr) == (0, "", "")
    assert [e["error"].split(":")[0] for e in errors(data)[2:]] == [
        "bad settings",
        "bad arguments ['stop', '--bogus']",
    ]
    doctor = subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "doctor"],
        env={**environ(data), "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "[warn] last hook errors: 4 most recent" in doctor.stdout
    assert "has no transcript_path" in doctor.stdout

    # A data dir written by a newer version is left untouched, and the host goes on.
    t.exchange("A prompt", "An answer")
    newer = tmp_path / "newer"
    newer.mkdir()
    conn = sqlite3.connect(newer / "memory.sqlite3")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = (newer / "memory.sqlite3").read_bytes()
    assert context(hook(newer, "stop", t.hook_input("Stop"))) == ""
    assert context(hook(newer, "session-start", t.hook_input("SessionStart", source="startup"))) == ""
    assert (newer / "memory.sqlite3").read_bytes() == before
    assert [("written by a newer langmem-mcp" in e["error"]) for e in errors(newer)] == [True, True]


def test_without_a_server_a_detached_worker_stores_the_queue(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project = tmp_path / "shop"
    first = Transcript(tmp_path / "s1.jsonl", project)
    first.exchange("Our staging database is called shopdb-staging.", "Noted.")
    started = time.monotonic()
    assert context(hook(data, "stop", first.hook_input("Stop"))) == ""
    print(f"Stop hook with the first migration: {time.monotonic() - started:.2f}s")
    wait_for(lambda: stored(data, first.session_id, 2), "the worker to store the Stop hook's turns")
    first.exchange("And production is shopdb-prod.", "Noted too.")
    assert context(hook(data, "session-end", first.hook_input("SessionEnd", reason="other"))) == ""
    wait_for(lambda: stored(data, first.session_id, 4), "the worker to store the SessionEnd hook's turns")
    wait_for(lambda: not workers_of(data), "the workers to exit")
    assert count(data, "SELECT count(*) FROM capture_sessions WHERE summary_id IS NOT NULL") == 1

    second = Transcript(tmp_path / "s2.jsonl", project)
    text = context(hook(data, "session-start", second.hook_input("SessionStart", source="startup")))
    assert text.startswith("Long-term memory (langmem-mcp)")
    assert "Last session" in text and "shopdb-staging" in text
    assert errors(data) == []


def test_a_session_that_ended_without_its_hook_is_caught_up_at_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project = tmp_path / "shop"
    first = Transcript(tmp_path / "s1.jsonl", project)
    first.exchange("The release branch is called train.", "OK.")
    assert context(hook(data, "stop", first.hook_input("Stop"))) == ""
    first.exchange("Releases leave on Tuesdays.", "OK.")  # then the host crashed: no Stop, no SessionEnd
    wait_for(lambda: stored(data, first.session_id, 2), "the first turns")
    wait_for(lambda: not workers_of(data), "the workers to exit")
    second = Transcript(tmp_path / "s2.jsonl", project)
    hook(data, "session-start", second.hook_input("SessionStart", source="startup"))
    wait_for(lambda: stored(data, first.session_id, 4), "the caught-up turns")
    wait_for(lambda: not workers_of(data), "the workers to exit")
    text = context(hook(data, "session-start", second.hook_input("SessionStart", source="startup")))
    assert "Tuesdays" in text  # the summary made at catch-up


async def test_with_a_server_it_stores_the_queue_and_answers_recall_with_its_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    t = Transcript(tmp_path / "s1.jsonl", tmp_path / "shop")
    t.exchange("Deploys need the VPN up.", "Right, VPN first.")
    env = {"LANGMEM_MCP_USER_ID": "ada", "LANGMEM_MCP_LLM": "none"}
    async with memory_session(data, **env) as s:
        await call(s, "manage_memory", content="The user's cat is called Tomasz and sleeps on the radiator")
        await call(s, "search_memory", query="warm up")  # ready: the model loaded, the queue held
        deadline = time.monotonic() + 30
        while not held_by_another(data):
            assert time.monotonic() < deadline, "the server did not take the capture queue"
            await asyncio.sleep(0.05)
        assert context(hook(data, "stop", t.hook_input("Stop"))) == ""
        assert not workers_of(data)  # the server holds the queue: no worker was started
        deadline = time.monotonic() + 30
        while not stored(data, t.session_id, 2):
            assert time.monotonic() < deadline, "the server did not store the hook's turns"
            await call(s, "search_memory", query="poll")  # let the in-process server run
        # A prompt sharing no word with the memory: the server's model finds it, within the floor.
        prompt = t.hook_input("UserPromptSubmit", prompt="what is my pet's name?")
        hits = context(hook(data, "user-prompt-submit", prompt))
        assert "Tomasz" in hits and hits.startswith("Memories (langmem-mcp)")
        everyday = t.hook_input("UserPromptSubmit", prompt="run the tests again")
        assert context(hook(data, "user-prompt-submit", everyday)) == ""
    # No server: keywords alone, so the same prompt finds nothing, and a keyword prompt still does.
    assert context(hook(data, "user-prompt-submit", prompt)) == ""
    keywords = t.hook_input("UserPromptSubmit", prompt="is the cat Tomasz on the radiator?")
    assert "Tomasz" in context(hook(data, "user-prompt-submit", keywords))
    assert errors(data) == []


def test_a_killed_worker_loses_no_accepted_turn(tmp_path: Path) -> None:
    data = tmp_path / "data"
    t = Transcript(tmp_path / "long.jsonl", tmp_path / "shop")
    exchanges = 700
    for i in range(exchanges):
        t.write(
            t.user(f"Question {i}: what about component {i} of the billing pipeline?"),
            t.tool_call("Read", {"file_path": f"/src/c{i}.py"}),
            t.tool_result("x" * 200),
            t.assistant(f"Answer {i}: component {i} batches invoices by customer."),
        )
    turns = 2 * exchanges
    env = environ(data)
    # The Stop hook accepts the session. The test holds the queue's lock meanwhile, as a server
    # would, so the hook starts no worker and the test runs (and kills) its own.
    lock = queue_lock(data)
    assert lock.try_acquire()
    assert context(hook(data, "stop", t.hook_input("Stop"))) == ""
    lock.release()
    assert count(data, "SELECT accepted FROM capture_sessions") == turns
    assert count(data, "SELECT count(*) FROM capture_jobs") == 1 and not workers_of(data)

    worker = [sys.executable, "-m", "langmem_mcp", "hook", "--worker"]
    proc = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(
        lambda: count(data, "SELECT count(*) FROM svc_messages") > 0 or proc.poll() is not None,
        "the worker to store its first messages",
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    partly = count(data, "SELECT count(*) FROM svc_messages")
    assert 0 < partly and count(data, "SELECT count(*) FROM capture_jobs") == 1  # the job stays
    print(f"killed the worker with {partly} of {turns} messages stored")

    subprocess.run(worker, env=env, check=True, timeout=600)  # the next worker finishes it
    assert count(data, "SELECT count(*) FROM capture_jobs") == 0
    assert count(data, "SELECT count(*) FROM svc_messages") == turns  # each once
    assert count(data, "SELECT count(DISTINCT id) FROM svc_messages") == turns
    conversation = "projects/shop/conversations"
    assert count(data, "SELECT count(*) FROM memories WHERE namespace = ?", conversation) == turns
    with sqlite3.connect(data / "memory.sqlite3") as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM svc_messages ORDER BY timestamp, seq")]
    assert ids == t.ids


#: What a hook must never load: each costs the host a second or more at every event.
HEAVY = ("mcp", "chromadb", "onnxruntime", "anthropic", "pydantic", "aiosqlite", "numpy", "tokenizers")


def imported(stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":
                names.add(name)
    return names


async def test_session_start_says_what_waits_and_recalls_only_current_memories(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project = tmp_path / "shop"
    first = Transcript(tmp_path / "s1.jsonl", project)
    first.exchange("We moved the checkout to a service called till.", "Till is the checkout now.")
    assert context(hook(data, "session-end", first.hook_input("SessionEnd", reason="other"))) == ""
    wait_for(lambda: stored(data, first.session_id, 2), "the worker to store the session")
    wait_for(lambda: not workers_of(data), "the workers to exit")

    # No model anywhere: the session waits to be distilled, and the next session is told so, by a
    # hook that loads nothing heavy (python -X importtime lists every module it imports).
    second = Transcript(tmp_path / "s2.jsonl", project)
    start = json.dumps(second.hook_input("SessionStart", source="startup"))
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "langmem_mcp", "hook", "session-start"],
        input=start,
        env=environ(data),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    modules = imported(res.stderr)
    assert "langmem_mcp.service.waiting" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"the SessionStart hook imported {heavy}"
    text = json.loads(res.stdout)["hookSpecificOutput"]["additionalContext"]
    assert len(text) <= 2000
    assert (
        "Waiting for a model: 1 conversation waits to be distilled into memories; the MCP prompt "
        "`distill` walks you through it (no model is needed on the server). In Claude Code the user "
        "runs it as /mcp__<server name>__distill" in text
    ), text
    assert text.index("Waiting for a model") < text.index(
        "More with search_memory"
    )  # whole, above the footer

    # The agent distils it through the prompt (the llm group), and a project fact changes: the
    # old one is superseded.
    async with memory_session(data, LANGMEM_MCP_TOOLS="memory,llm", LANGMEM_MCP_LLM="none") as s:
        shop = ["projects", "shop"]
        old = await call(
            s, "manage_memory", content="The shop deploys to Heroku.", namespace=shop, importance=0.9
        )
        new = await call(
            s,
            "manage_memory",
            action="supersede",
            id=old["id"],
            content="The shop deploys to Fly.io in region ams.",
            namespace=shop,
        )
        assert new["superseded"] == old["id"]
        prompt = (await s.get_prompt("distill", {})).messages[0].content.text
        [task] = [json.loads(m) for m in re.findall(r"^extract_memories\((\{.*\})\)$", prompt, re.MULTILINE)]
        assert task["namespace"] == ["users", "ada"]
        fact = "The shop's checkout service is called till."
        await call(
            s, "extract_memories", task_id=task["task_id"], namespace=task["namespace"], memories=[fact]
        )

    text = context(hook(data, "session-start", second.hook_input("SessionStart", source="startup")))
    assert "Waiting for a model" not in text  # nothing waits now
    assert f"About the user:\n- {fact}" in text
    assert "Project shop:\n- The shop deploys to Fly.io in region ams." in text
    assert "Heroku" not in text  # superseded: history, not what a session starts from
    ask = second.hook_input("UserPromptSubmit", prompt="does the shop still deploy to heroku?")
    assert "Heroku" not in context(hook(data, "user-prompt-submit", ask))
    assert errors(data) == []


async def test_a_data_dir_from_before_capture_is_migrated_by_the_first_hook(tmp_path: Path) -> None:
    """A data dir at schema 10 (the release before the capture tables) is migrated by the first
    hook, as a server would migrate it, and then captured into."""
    data = tmp_path / "data"
    async with memory_session(data) as s:
        await call(s, "manage_memory", content="Kept across the upgrade.")
    with sqlite3.connect(data / "memory.sqlite3") as conn:  # back to schema 10: no capture tables
        conn.execute("DROP TABLE capture_jobs")
        conn.execute("DROP TABLE capture_sessions")
        for trigger in ("vector_versions_ai", "vector_versions_au", "vector_versions_ad"):  # nor 12's
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE vector_versions")
        conn.execute("PRAGMA user_version = 10")
    t = Transcript(tmp_path / "s1.jsonl", tmp_path / "shop")
    t.exchange("The release train leaves on Tuesdays.", "Tuesdays, noted.")
    assert context(hook(data, "stop", t.hook_input("Stop"))) == ""
    assert errors(data) == []
    assert count(data, "PRAGMA user_version") == SCHEMA_VERSION
    wait_for(lambda: stored(data, t.session_id, 2), "the worker to store the turns")
    wait_for(lambda: not workers_of(data), "the workers to exit")
    assert count(data, "SELECT count(*) FROM memories WHERE content = 'Kept across the upgrade.'") == 1
