"""`langmem-mcp doctor` on a real data dir: all green after normal use; lost vectors, strays, an
unwritable data dir and a host entry for another data dir are reported."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mcp_client import REPO, call, memory_session

pytestmark = pytest.mark.process


def doctor(home: Path, data: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGMEM_MCP_", "ANTHROPIC_"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), **extra_env)
    env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "doctor", "--data-dir", str(data)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def install(home: Path, host: str, data: Path) -> None:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("XDG_CONFIG_HOME", None)
    subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "install", host, "--data-dir", str(data)],
        env=env,
        cwd=home,
        check=True,
        capture_output=True,
    )


async def test_doctor_after_use_and_after_damage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with memory_session(data) as s:
        for text in ("Uses vim", "Lives in Oslo", "Allergic to peanuts"):
            await call(s, "manage_memory", content=text)
        await call(s, "search_memory", query="vim")  # waits for the index
    install(tmp_path, "cursor", data)
    install(tmp_path, "claude-desktop", tmp_path / "elsewhere")

    res = doctor(tmp_path, data)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "[  ok] data dir" in out and "loaded offline" in out
    assert "[  ok] vectors: 3 kept in SQLite" in out and "consistent with SQLite" in out
    assert "LLM: no API key" in out
    assert "cursor" in out and "points at this install and data dir" in out
    assert "claude-desktop" in out and "elsewhere" in out and "[warn]" in out

    # an indexed memory whose vector was lost is found, and queued for re-embedding
    with sqlite3.connect(data / "memory.sqlite3") as conn:
        conn.execute(
            "DELETE FROM memory_vectors WHERE id = (SELECT id FROM memories WHERE content = 'Uses vim')"
        )
    res = doctor(tmp_path, data)
    assert res.returncode == 1 and "1 indexed memories had no vector" in res.stdout
    res = doctor(tmp_path, data)
    assert res.returncode == 0 and "1 memories wait to be indexed" in res.stdout
    async with memory_session(data) as s:
        await call(s, "search_memory", query="vim")
    assert "[  ok] vectors: 3 kept in SQLite" in doctor(tmp_path, data).stdout


async def test_doctor_checks_chroma_for_large_namespaces(tmp_path: Path) -> None:
    data = tmp_path / "data"
    small = {"LANGMEM_MCP_EXACT_SEARCH_MAX": "2"}
    async with memory_session(data, **small) as s:
        for text in ("Uses vim", "Lives in Oslo", "Allergic to peanuts"):
            await call(s, "manage_memory", content=text)
        await call(s, "search_memory", query="vim")
        for _ in range(100):  # the index worker fills the namespace's collection
            if "1 namespaces over 2" in doctor(tmp_path, data, **small).stdout:
                break
            await asyncio.sleep(0.2)
    res = doctor(tmp_path, data, **small)
    assert res.returncode == 0 and "1 namespaces over 2 memories in Chroma (3 vectors)" in res.stdout

    # a memory removed behind the index's back leaves a stray vector in Chroma
    with sqlite3.connect(data / "memory.sqlite3") as conn:
        conn.execute("DELETE FROM memories WHERE content = 'Uses vim'")
    res = doctor(tmp_path, data, **small)
    assert res.returncode == 1 and "1 vectors without a memory" in res.stdout
    async with memory_session(data, **small) as s:  # its start applies the queued delete
        await call(s, "search_memory", query="vim")
    res = doctor(tmp_path, data, **small)
    assert res.returncode == 0 and "(2 vectors), consistent with SQLite" in res.stdout


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"  # a data dir below a regular file cannot be created, even by root
    blocker.write_text("")
    res = doctor(tmp_path, blocker / "data")
    assert res.returncode == 1 and "not writable" in res.stdout
