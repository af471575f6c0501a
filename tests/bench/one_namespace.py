"""N memories in ONE namespace (a user or project gathering every captured turn) and the same N
spread over namespaces of one conversation each: search latency, memory, writes and restart,
against a raw Chroma query on the one namespace's collection in the same run.

1. Layout "one": import N LoCoMo-style turns into one namespace (as `langmem-mcp import` does), or
   with `--copy-from` grow a smaller one-namespace store to N by copying its rows (each copy gets
   its numbered text and its source row's context and vectors, so no encoding: how the 1M store is
   made). Then, in process, wait until the index worker has finished (contexts, vectors, the
   Chroma collection filled).
2. Layout "spread": a copy of the "one" store whose rows are moved to a namespace per conversation
   and copy number (≈600 memories each), the FTS index rebuilt; no collection is needed.
3. For each layout, over stdio: `search_memory` p50/p95 for the questions (spread: each question
   goes to its conversation, a different copy each time); the server's RSS (VmRSS) after them and
   after `--more` further searches (growth); `manage_memory` p50 in the large namespace and in a
   small one (one layout); a fresh server's first search (spawn excluded).
4. The baseline: the same questions embedded and sent to the one namespace's Chroma collection
   directly (`collection.query`, no filter), in this process.
5. What the keyword bound (`LANGMEM_MCP_KEYWORD_ROWS_MAX`) changes, in process on the one
   namespace: each question's top 10 with the default bound against scoring every keyword match
   (`0`), the share of questions answered the same and the recall@10 of the questions' evidence
   turns (any copy of a turn counts), both ways.

    python -m tests.bench.one_namespace [--size 100000] [--layouts one spread] [--queries 200]
        [--more 1000] [--store DIR] [--copy-from DIR/one-100000] [--out bench-results/one_namespace.json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp import ClientSession

from langmem_mcp.config import load_settings
from langmem_mcp.service.container import open_services
from langmem_mcp.service.memories import NewItem
from langmem_mcp.store import vector_rows
from langmem_mcp.store.memories import content_hash, content_key
from tests.bench import locomo_data
from tests.bench.locomo_data import load, numbered_turns, original
from tests.bench.stats import summary
from tests.mcp_client import stdio_session

NS = ["project", "everything"]
BATCH = 256
COPY_BATCH = 10_000


def corpus(n: int) -> tuple[list[str], list[tuple[str, int]]]:
    """n distinct turns (copies numbered) and the LoCoMo questions, each with its conversation."""
    questions = [(q.question, c) for c, conv in enumerate(load()) for q in conv.questions]
    return numbered_turns(n), questions


@functools.cache
def conversation_of_turns() -> list[int]:
    """The conversation of each LoCoMo turn, in the order numbered_turns gives them (one copy)."""
    return [c for c, conv in enumerate(load()) for _ in conv.turns]


async def build(data_dir: Path, texts: list[str]) -> dict[str, float]:
    settings = load_settings(data_dir=data_dir)
    async with open_services(settings) as services:
        await services.runtime.index.get()
        t0 = time.perf_counter()
        for i in range(0, len(texts), BATCH):
            await services.memories.create_many([NewItem(t, NS) for t in texts[i : i + BATCH]])
        imported = time.perf_counter() - t0
    return {"import_per_s": round(len(texts) / imported, 1)}


def copy_rows(source: Path, data_dir: Path, texts: list[str]) -> dict[str, float]:
    """`data_dir` = the one-namespace store at `source` grown to len(texts) turns: each missing
    turn copies the row of the turn's first copy (context, vector, indexed), with its own numbered
    text, id, hash and key. Its Chroma collection is left to be filled from SQLite."""
    t0 = time.perf_counter()
    _vacuum_copy(source, data_dir)
    conn = sqlite3.connect(data_dir / "memory.sqlite3", isolation_level=None)
    ns = "/".join(NS)
    turns = len(conversation_of_turns())
    originals = set(texts[:turns])
    first: dict[str, tuple[str, bytes]] = {}
    have: set[str] = set()
    for content, context, vector in conn.execute(
        "SELECT m.content, m.context, v.vector FROM memories m JOIN memory_vectors v "
        "ON v.namespace = m.namespace AND v.id = m.id WHERE m.namespace = ?",
        (ns,),
    ):
        have.add(content)
        if content in originals:
            first[content] = (context, vector)
    todo = [(i, t) for i, t in enumerate(texts) if t not in have]
    now = datetime.now(UTC).isoformat()
    for start in range(0, len(todo), COPY_BATCH):
        rows, vectors = [], []
        for i, text in todo[start : start + COPY_BATCH]:
            context, vector = first[texts[i % turns]]
            mid = str(uuid.uuid4())
            rows.append((mid, ns, text, now, now, content_hash(text), context, now, content_key(text)))
            vectors.append((ns, mid, vector))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO memories (id, namespace, content, created_at, updated_at, content_hash, indexed, "
            "context, valid_from, content_key) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            rows,
        )
        conn.executemany("INSERT INTO memory_vectors (namespace, id, vector) VALUES (?, ?, ?)", vectors)
        conn.execute("COMMIT")
    conn.close()
    return {"copied_rows": len(todo), "copy_s": round(time.perf_counter() - t0, 1)}


def _vacuum_copy(source: Path, data_dir: Path) -> None:
    """A compact copy of the store at `source` as `data_dir`'s database (no Chroma)."""
    data_dir.mkdir(parents=True)
    with closing(sqlite3.connect(source / "memory.sqlite3")) as src:
        src.execute("VACUUM INTO ?", (str(data_dir / "memory.sqlite3"),))


def spread_namespace(conversation: int, copy: int) -> list[str]:
    return ["conversation", f"{conversation}-{copy}"]


def spread(source: Path, data_dir: Path, texts: list[str]) -> dict[str, float]:
    """`data_dir` = the rows of the one-namespace store at `source`, each moved to the namespace of
    its conversation and copy number (the vectors with them), the FTS index rebuilt."""
    t0 = time.perf_counter()
    _vacuum_copy(source, data_dir)
    conversation = conversation_of_turns()
    turns = len(conversation)
    where = {
        text: "/".join(spread_namespace(conversation[k % turns], k // turns)) for k, text in enumerate(texts)
    }
    conn = sqlite3.connect(data_dir / "memory.sqlite3", isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("CREATE TEMP TABLE moves (content TEXT PRIMARY KEY, namespace TEXT NOT NULL)")
    conn.executemany("INSERT INTO moves VALUES (?, ?)", where.items())
    conn.execute(
        "UPDATE memory_vectors SET namespace = (SELECT mv.namespace FROM memories m JOIN moves mv "
        "ON mv.content = m.content WHERE m.id = memory_vectors.id) WHERE namespace = ? AND id IN "
        "(SELECT m.id FROM memories m JOIN moves mv ON mv.content = m.content)",
        ("/".join(NS),),
    )
    conn.execute(
        "UPDATE memories SET namespace = (SELECT namespace FROM moves WHERE content = memories.content) "
        "WHERE content IN (SELECT content FROM moves)"
    )
    conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
    conn.execute("COMMIT")
    conn.close()
    return {"spread_s": round(time.perf_counter() - t0, 1), "namespaces": len(set(where.values()))}


async def settle(data_dir: Path, timeout: float = 7200) -> float:
    """In process, until the index worker has nothing left and every large namespace's collection
    is filled (searches are then measured, not the fill)."""
    t0 = time.monotonic()
    async with open_services(load_settings(data_dir=data_dir)) as services:
        index = await services.runtime.index.get()
        with closing(sqlite3.connect(data_dir / "memory.sqlite3")) as conn:
            large = set(vector_rows.namespaces_over(conn, services.settings.exact_search_max))
        while time.monotonic() - t0 < timeout:
            pending = await services.runtime.db.scalar(
                "SELECT (SELECT COUNT(*) FROM memories WHERE indexed != 1) + "
                "(SELECT COUNT(*) FROM memories WHERE context_stale = 1)"
            )
            if not pending and large <= set(index.indexer.index.filled()):
                return time.monotonic() - t0
            await asyncio.sleep(2)
    raise TimeoutError("the index worker did not finish")


async def bound_effect(data_dir: Path, n: int) -> dict[str, Any]:
    """The first n questions' top 10 in the one namespace with the default keyword bound and with
    every keyword match scored: how many answers are the same, and the evidence recall of each."""
    conversations = load()
    asked = [
        (q.question, {turns[e] for e in q.evidence})
        for conv in conversations
        for turns in [{t.dia_id: t.memory for t in conv.turns}]
        for q in conv.questions
    ][:n]
    answers: dict[int, list[list[str]]] = {}
    recall: dict[int, float] = {}
    default = load_settings(data_dir=data_dir).keyword_rows_max
    for rows_max in (default, 0):
        async with open_services(load_settings(data_dir=data_dir, keyword_rows_max=rows_max)) as services:
            found = [await services.memories.search(question, NS, limit=10) for question, _ in asked]
        answers[rows_max] = [[h.id for h in hits] for hits in found]
        recall[rows_max] = statistics.mean(
            locomo_data.recall([original(h.content) for h in hits], frozenset(evidence), 10)
            for (_, evidence), hits in zip(asked, found, strict=True)
        )
    pairs = list(zip(answers[default], answers[0], strict=True))
    same = sum(a == b for a, b in pairs)
    overlap = statistics.mean(len(set(a) & set(b)) / max(len(b), 1) for a, b in pairs)
    return {
        "keyword_rows_max": default,
        "questions": len(asked),
        "same_top10": same,
        "top10_overlap": round(overlap, 4),
        "evidence_recall_at_10": {"bounded": round(recall[default], 4), "every_match": round(recall[0], 4)},
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_pid() -> int:
    me = os.getpid()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmd = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = next((int(x.split()[1]) for x in text.splitlines() if x.startswith("PPid:")), None)
        if ppid == me and "langmem_mcp" in cmd:
            return int(status.parent.name)
    raise RuntimeError("no server process")


async def searches(s: ClientSession, questions: list[tuple[str, list[str]]]) -> list[float]:
    times = []
    for q, namespace in questions:
        t0 = time.perf_counter()
        res = await s.call_tool("search_memory", {"query": q, "namespace": namespace, "limit": 10})
        times.append((time.perf_counter() - t0) * 1000)
        assert not res.is_error, res.content[0].text
    return times


async def writes(s: ClientSession, namespace: list[str], n: int, tag: str) -> list[float]:
    """n creates; the texts are new at every run (a reused store already holds the last run's,
    which would answer `exists` without encoding anything)."""
    run = time.strftime("%Y%m%d%H%M%S")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        res = await s.call_tool(
            "manage_memory",
            {"content": f"{tag}: bench write {i} of run {run} about the harbour", "namespace": namespace},
        )
        times.append((time.perf_counter() - t0) * 1000)
        assert not res.is_error, res.content[0].text
        assert res.structured_content and res.structured_content["action"] == "created", (
            res.structured_content
        )
    return times


def raw_chroma(data_dir: Path, questions: list[str]) -> list[float] | None:
    """The namespace's own collection, queried directly (embedding included); None when the
    namespace is too small to have one."""
    import numpy as np

    from langmem_mcp.index.chroma import VectorIndex
    from langmem_mcp.index.embeddings import shared_embedder

    embedder = shared_embedder("minilm-int8")
    index = VectorIndex.open(embedder, path=data_dir / "chroma")
    collection = index._by_ns.get("/".join(NS))  # noqa: SLF001 - the baseline reads the same collection
    if collection is None:
        return None
    times = []
    for q in questions:
        t0 = time.perf_counter()
        vector = embedder.embed([q])[0]
        collection.query(
            query_embeddings=np.asarray(vector).reshape(1, -1), n_results=10, include=["distances"]
        )
        times.append((time.perf_counter() - t0) * 1000)
    return times


def addressed(questions: list[tuple[str, int]], layout: str, copies: int) -> list[tuple[str, list[str]]]:
    """Each question with the namespace it is asked in: the one namespace, or (spread) its
    conversation's, a different copy each time."""
    if layout == "one":
        return [(q, NS) for q, _ in questions]
    return [(q, spread_namespace(c, k % copies)) for k, (q, c) in enumerate(questions)]


async def measure(
    data_dir: Path, asked: list[tuple[str, list[str]]], more: int, layout: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with stdio_session(data_dir) as s:  # the store is settled: nothing is left to index
        pid = server_pid()
        first = await searches(s, asked)
        out["search_ms"] = summary(first)
        rss_before = rss_mib(pid)
        again = await searches(s, (asked * (more // len(asked) + 1))[:more])
        rss_after = rss_mib(pid)
        out["rss_mib"] = {"after_searches": round(rss_before, 1), f"after_{more}_more": round(rss_after, 1)}
        out["rss_growth_pct"] = round(100 * (rss_after - rss_before) / rss_before, 2)
        out["search_more_ms"] = summary(again)
        if layout == "one":
            big = await writes(s, NS, 100, "Big")
            small = await writes(s, ["small", "namespace"], 100, "Small")
            out["write_ms"] = {
                "one_namespace_p50": round(statistics.median(big), 2),
                "small_namespace_p50": round(statistics.median(small), 2),
                "ratio": round(statistics.median(big) / statistics.median(small), 3),
            }
            out["rss_mib"]["after_writes"] = round(rss_mib(pid), 1)
    async with stdio_session(data_dir) as s:
        t0 = time.perf_counter()
        res = await s.call_tool("search_memory", {"query": asked[0][0], "namespace": asked[0][1]})
        out["first_search_after_restart_s"] = round(time.perf_counter() - t0, 3)
        assert not res.is_error
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = args.store or Path(tempfile.mkdtemp())
    one_dir = root / f"one-{args.size}"
    texts, questions = corpus(args.size)
    questions = questions[: args.queries]
    copies = max(1, args.size // len(conversation_of_turns()))  # complete copies only
    out: dict[str, Any] = {"memories": args.size}
    if not (one_dir / "memory.sqlite3").exists():
        out["build"] = (
            copy_rows(args.copy_from, one_dir, texts) if args.copy_from else await build(one_dir, texts)
        )
    out["settled_s"] = round(await settle(one_dir), 1)
    out["keyword_bound"] = await bound_effect(one_dir, args.queries)
    for layout in args.layouts:
        data_dir = one_dir
        if layout == "spread":
            data_dir = root / f"spread-{args.size}"
            if not (data_dir / "memory.sqlite3").exists():
                out["build_spread"] = spread(one_dir, data_dir, texts)
        out[layout] = await measure(data_dir, addressed(questions, layout, copies), args.more, layout)
    base = raw_chroma(one_dir, [q for q, _ in questions])
    if base is None:
        return out
    out["raw_chroma_ms"] = summary(base)
    for layout in args.layouts:
        out[layout]["search_vs_raw_chroma_p50"] = round(
            out[layout]["search_ms"]["p50"] / out["raw_chroma_ms"]["p50"], 3
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--layouts", nargs="+", default=["one", "spread"], choices=["one", "spread"])
    parser.add_argument(
        "--copy-from", type=Path, help="grow this one-namespace store's rows instead of importing"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--more", type=int, default=1000)
    parser.add_argument("--store", type=Path, help="keep (and reuse) the built store here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
