"""One namespace of N memories (a user or project gathering every captured turn): search latency,
memory, writes and restart, against a raw Chroma query on the same collection in the same run.

1. Import N LoCoMo-style turns into ONE namespace (as `langmem-mcp import` does), then start the
   server and wait until the index worker has finished (contexts, vectors, the Chroma collection).
2. Over stdio: `search_memory` p50/p95 for the questions; the server's RSS (VmRSS) after them and
   after 1,000 further searches (growth); `manage_memory` p50 in that namespace and in a small one.
3. A fresh server on the same data dir: how long its first search takes (spawn excluded).
4. The baseline: the same questions embedded and sent to the namespace's Chroma collection
   directly (`collection.query`, no filter), in this process.

    python -m tests.bench.one_namespace [--size 100000] [--queries 200] [--more 1000]
                                        [--store DIR] [--out bench-results/one_namespace.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client

from langmem_mcp.config import load_settings
from langmem_mcp.service.container import open_services
from langmem_mcp.service.memories import NewItem
from tests.bench.locomo_data import load, numbered_turns
from tests.mcp_client import server_env

NS = ["project", "everything"]
BATCH = 256


def corpus(n: int) -> tuple[list[str], list[str]]:
    """n distinct turns (copies numbered) and the LoCoMo questions."""
    return numbered_turns(n), [q.question for conv in load() for q in conv.questions]


async def build(data_dir: Path, texts: list[str]) -> dict[str, float]:
    settings = load_settings(data_dir=data_dir)
    async with open_services(settings) as services:
        await services.runtime.index.get()
        t0 = time.perf_counter()
        for i in range(0, len(texts), BATCH):
            await services.memories.create_many([NewItem(t, NS) for t in texts[i : i + BATCH]])
        imported = time.perf_counter() - t0
    return {"import_per_s": round(len(texts) / imported, 1)}


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


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def session(data_dir: Path) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "langmem_mcp"], env=server_env(data_dir)
    )
    return stdio_client(params, errlog=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process


async def wait_finished(s: ClientSession, data_dir: Path, timeout: float = 7200) -> float:
    """Until nothing is pending in the index (read from SQLite beside the server)."""
    import sqlite3

    t0 = time.monotonic()
    while True:
        conn = sqlite3.connect(f"file:{data_dir / 'memory.sqlite3'}?mode=ro", uri=True)
        try:
            left = conn.execute(
                "SELECT (SELECT COUNT(*) FROM memories WHERE indexed != 1) + "
                "(SELECT COUNT(*) FROM memories WHERE context_stale = 1)"
            ).fetchone()[0]
        finally:
            conn.close()
        if not left:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{left} rows still pending")
        await s.call_tool("search_memory", {"query": "still indexing?", "namespace": NS})
        await asyncio.sleep(2)


async def searches(s: ClientSession, questions: list[str]) -> list[float]:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        res = await s.call_tool("search_memory", {"query": q, "namespace": NS, "limit": 10})
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


def raw_chroma(data_dir: Path, questions: list[str]) -> list[float]:
    """The namespace's own collection, queried directly (embedding included)."""
    import numpy as np

    from langmem_mcp.index.chroma import VectorIndex
    from langmem_mcp.index.embeddings import shared_embedder

    embedder = shared_embedder("minilm-int8")
    index = VectorIndex.open(embedder, path=data_dir / "chroma")
    collection = index._by_ns["/".join(NS)]  # noqa: SLF001 - the baseline reads the same collection
    times = []
    for q in questions:
        t0 = time.perf_counter()
        vector = embedder.embed([q])[0]
        collection.query(
            query_embeddings=np.asarray(vector).reshape(1, -1), n_results=10, include=["distances"]
        )
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = args.store or Path(tempfile.mkdtemp())
    data_dir = root / f"one-{args.size}"
    texts, questions = corpus(args.size)
    questions = questions[: args.queries]
    out: dict[str, Any] = {"memories": args.size}
    if not (data_dir / "memory.sqlite3").exists():
        out["build"] = await build(data_dir, texts)
    async with await session(data_dir) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        out["index_finished_after_s"] = round(await wait_finished(s, data_dir), 1)
        pid = server_pid()
        first = await searches(s, questions)
        out["search_ms"] = {"p50": round(statistics.median(first), 2), "p95": round(pct(first, 0.95), 2)}
        rss_before = rss_mib(pid)
        more = await searches(s, (questions * (args.more // len(questions) + 1))[: args.more])
        rss_after = rss_mib(pid)
        out["rss_mib"] = {
            "after_searches": round(rss_before, 1),
            f"after_{args.more}_more": round(rss_after, 1),
        }
        out["rss_growth_pct"] = round(100 * (rss_after - rss_before) / rss_before, 2)
        out["search_more_ms"] = {"p50": round(statistics.median(more), 2), "p95": round(pct(more, 0.95), 2)}
        big = await writes(s, NS, 100, "Big")
        small = await writes(s, ["small", "namespace"], 100, "Small")
        out["write_ms"] = {
            "one_namespace_p50": round(statistics.median(big), 2),
            "small_namespace_p50": round(statistics.median(small), 2),
            "ratio": round(statistics.median(big) / statistics.median(small), 3),
        }
        out["rss_mib"]["after_writes"] = round(rss_mib(pid), 1)
    async with await session(data_dir) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        t0 = time.perf_counter()
        res = await s.call_tool("search_memory", {"query": questions[0], "namespace": NS})
        out["first_search_after_restart_s"] = round(time.perf_counter() - t0, 3)
        assert not res.is_error
    base = raw_chroma(data_dir, questions)
    out["raw_chroma_ms"] = {"p50": round(statistics.median(base), 2), "p95": round(pct(base, 0.95), 2)}
    out["search_vs_raw_chroma_p50"] = round(out["search_ms"]["p50"] / out["raw_chroma_ms"]["p50"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000)
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
