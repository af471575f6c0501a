"""Checks that a data dir keeps no secret anywhere: every file's bytes (SQLite, its WAL, Chroma), the
rows, the FTS5 index, the text each index vector was computed from, and the export.

The fake secrets come from tests/test_redaction.py (built at run time, so the repository holds none).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from langmem_mcp.index.indexer import INDEXED, UPGRADE, row_vectors
from langmem_mcp.service import transfer
from tests.test_redaction import CASES

#: (case id, text, its secrets, the placeholder kinds it must get, text around them that must stay)
SECRET_CASES = CASES
ALL_SECRETS = sorted({s for c in CASES for s in c[2]})


def distinctive(secret: str) -> str | None:
    """The longest run of letters and digits in ``secret`` (what FTS5 would index), if it is long
    enough to be the secret's own and not an ordinary word."""
    runs = re.findall(r"[A-Za-z0-9]+", secret)
    best = max(runs, key=len, default="")
    return best if len(best) >= 8 and any(c.isdigit() for c in best) else None


def data_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file()]


def files_holding(data_dir: Path, secrets: Iterable[str]) -> dict[str, list[str]]:
    """Secret (or its lower-cased distinctive token, as FTS5 stores terms) → files whose bytes hold it."""
    found: dict[str, list[str]] = {}
    blobs = {p.relative_to(data_dir).as_posix(): p.read_bytes() for p in data_files(data_dir)}
    for secret in secrets:
        needles = [secret.encode()]
        token = distinctive(secret)
        if token:
            needles.append(token.lower().encode())
        for name, blob in blobs.items():
            low = blob.lower()
            if any(n in blob or n in low for n in needles):
                found.setdefault(secret[:12] + "…", []).append(name)
    return found


def rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{data_dir / 'memory.sqlite3'}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fts_hits(data_dir: Path, token: str) -> int:
    return rows(data_dir, "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?", (f'"{token}"',))[0][
        0
    ]


def export_text(data_dir: Path) -> str:
    return "\n".join(
        json.dumps(r, ensure_ascii=False) for r in transfer.export_records(data_dir / "memory.sqlite3")
    )


def assert_kept_nowhere(data_dir: Path, secrets: Iterable[str], placeholders: Iterable[str] = ()) -> None:
    """None of ``secrets`` is stored anywhere in the data dir; each of ``placeholders`` is."""
    secrets = list(secrets)
    assert not files_holding(data_dir, secrets), files_holding(data_dir, secrets)
    memories = rows(data_dir, "SELECT content, metadata, context FROM memories")
    messages = rows(data_dir, "SELECT content, metadata, dedup_key FROM svc_messages")
    states = rows(data_dir, "SELECT state FROM svc_states")
    stored = json.dumps([memories, messages, states], ensure_ascii=False)
    for secret in secrets:
        assert secret not in stored
        token = distinctive(secret)
        if token:
            assert fts_hits(data_dir, token) == 0, f"the FTS index still finds {token[:12]}…"
    exported = export_text(data_dir)
    assert not [s[:12] for s in secrets if s in exported]
    for p in placeholders:
        assert p in stored and p in exported, p
    if any("[redacted: " in m[0] for m in memories):
        assert fts_hits(data_dir, "redacted") > 0  # placeholders are indexed like any text


class _Row:
    def __init__(self, content: str, context: str) -> None:
        self.content, self.context = content, context


def _finish_indexing(data_dir: Path) -> None:
    """Open the data dir as a server would: the index owner's start finishes every context and
    vector the last server left to its worker. (In a thread: callers may be inside an event loop.)"""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from langmem_mcp.config import Settings
    from langmem_mcp.service.container import open_services
    from tests.indexing import wait_indexed

    async def finish() -> None:
        async with open_services(Settings(data_dir=data_dir, llm="none")) as services:
            await services.runtime.index.get()
            # The last server may hand the owner lock over a moment after it closed.
            await wait_indexed(services.runtime)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, finish()).result()


def assert_vectors_from_stored_text(data_dir: Path, context_vectors: str = "window") -> int:
    """Every memory's index vector was computed from its stored (redacted) text and context.

    Returns how many vectors were checked."""
    from langmem_mcp.index.embeddings import shared_embedder

    _finish_indexing(data_dir)
    embedder = shared_embedder("minilm-int8")
    if hasattr(embedder, "load"):
        embedder.load()
    found = rows(
        data_dir,
        "SELECT m.content, m.context, m.indexed, v.vector FROM memories m "
        "JOIN memory_vectors v ON v.namespace = m.namespace AND v.id = m.id",
    )
    total = rows(data_dir, "SELECT count(*) FROM memories")[0][0]
    assert len(found) == total, f"{total - len(found)} memories have no vector"
    assert all(indexed in (INDEXED, UPGRADE) for _, _, indexed, _ in found), [r[2] for r in found]
    # A bulk write's row (UPGRADE) is indexed under its own text's vector; the others by the mode.
    modes = [context_vectors if indexed == INDEXED else "off" for _, _, indexed, _ in found]
    expected: dict[int, np.ndarray] = {}
    for mode in set(modes):  # all the rows of a mode in one call: the embedder batches them
        at = [i for i, m in enumerate(modes) if m == mode]
        made = row_vectors(embedder, [_Row(found[i][0], found[i][1]) for i in at], mode)  # type: ignore[arg-type]
        expected.update(zip(at, made, strict=True))
    for i, (content, _context, _indexed, blob) in enumerate(found):
        stored = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        cosine = float(expected[i] @ stored / (np.linalg.norm(expected[i]) * np.linalg.norm(stored)))
        assert cosine > 0.999, (content[:60], cosine)
    return len(found)
