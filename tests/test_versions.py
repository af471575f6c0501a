"""Schema versions: an older data dir is migrated when opened; a newer one is refused, untouched."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.service.container import Services
from langmem_mcp.service.runtime import Runtime
from langmem_mcp.store.sqlite import MIGRATIONS, SCHEMA_VERSION, Database, SchemaTooNew, _statements
from tests.mcp_client import server_env

V1_ROW = (
    "INSERT INTO memories (id, namespace, content, metadata, importance, created_at, updated_at,"
    " content_hash, indexed) VALUES ('6f1c3f4e-8d2a-4c55-9a43-2a4f0d3b1e77', 'memories',"
    " 'The old server remembered that Ines plays the cello', '{\"kind\": \"fact\"}', 0.7,"
    " '2024-01-02T03:04:05+00:00', '2024-01-02T03:04:05+00:00', 'x', 1)"
)


def write_v1(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute(V1_ROW)
    conn.execute("PRAGMA user_version = 1")
    conn.close()


async def test_v1_file_is_migrated_and_searchable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    write_v1(settings.db_path)
    rt = await Runtime.open(settings)
    try:
        assert await rt.db.scalar("PRAGMA user_version") == SCHEMA_VERSION > 1
        svc = Services.build(rt).memories
        hits = await svc.search("Who plays the cello?")
        assert [h.content for h in hits] == ["The old server remembered that Ines plays the cello"]
        assert hits[0].metadata == {"kind": "fact"} and hits[0].importance == 0.7
        assert hits[0].created_at == "2024-01-02T03:04:05+00:00"
        assert (await svc.create("A new memory after the upgrade")).action == "created"
    finally:
        await rt.close()
    # opening again is a no-op
    db = await Database.open(settings.db_path)
    assert await db.scalar("SELECT COUNT(*) FROM memories") == 2
    await db.close()


async def test_newer_file_is_refused_and_never_rewritten(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    write_v1(settings.db_path)
    conn = sqlite3.connect(settings.db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    conn.commit()
    conn.close()
    before = settings.db_path.read_bytes()

    with pytest.raises(SchemaTooNew) as err:
        await Runtime.open(settings)
    message = str(err.value)
    assert f"schema {SCHEMA_VERSION + 7}" in message and "newer langmem-mcp" in message
    assert "Upgrade" in message and "untouched" in message

    # The CLI says the same and exits non-zero.
    out = subprocess.run(
        [sys.executable, "-m", "langmem_mcp", "export"],
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "newer langmem-mcp" in out.stderr, out.stderr
    assert out.stdout == ""
    assert settings.db_path.read_bytes() == before
    assert not Path(str(settings.db_path) + "-wal").exists()
