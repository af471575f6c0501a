"""Search latency, bulk ingest and memory use at growing store sizes, against same-run baselines.

For each size N (default 1k, 10k, 100k memories):
- bulk ingest N memories through MemoryService.create_many (batched embeddings and
  transactions, as `langmem-mcp import` does) vs the raw encoder embedding the same texts;
- spawn the server over stdio on that data dir and time `search_memory` (p50/p95) for a fixed
  set of questions, vs a direct chromadb query (embed + collection.query) on the same data, in
  rounds that go through every size in turn (the machine's slow spells then hit all sizes);
- the server's peak RSS (VmHWM) after the searches.

Texts are LoCoMo turns ("Speaker: text"), repeated with a copy number to make each unique,
spread over namespaces of one conversation each, as a real store of many conversations is.

    python -m tests.bench.scale [--sizes 1000 10000 100000] [--queries 200] [--rounds 3] [--out scale.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client

from langmem_mcp.config import load_settings
from langmem_mcp.service.container import Services
from langmem_mcp.service.memories import NewItem
from langmem_mcp.service.runtime import Runtime
from tests.bench.locomo_data import load
from tests.bench.stats import summary
from tests.mcp_client import server_env

BATCH = 256


def corpus(n: int) -> tuple[list[NewItem], list[tuple[str, list[str]]]]:
    """n memories and (question, namespace) pairs to search with."""
    convs = load()
    items: list[NewItem] = []
    queries: list[tuple[str, list[str]]] = []
    copy = 0
    while len(items) < n:
        for conv in convs:
            ns = ["bench", f"{conv.name}-{copy}"]
            for turn in conv.turns:
                text = turn.memory if copy == 0 else f"{turn.memory} [{copy}]"
                items.append(NewItem(text, ns))
                if len(items) == n:
                    break
            queries += [(q.question, ns) for q in conv.questions]
            if len(items) == n:
                break
        copy += 1
    return items, queries


async def ingest(data_dir: Path, items: list[NewItem], mode: str = "window") -> dict:
    settings = load_settings(data_dir=data_dir, context_vectors=mode)
    rt = await Runtime.open(settings)
    try:
        index = await rt.index.get()
        svc = Services.build(rt).memories
        texts = [it.content for it in items]
        # raw encoder on the same texts, same batch size
        sample = texts[: min(len(texts), 5000)]
        t0 = time.perf_counter()
        for i in range(0, len(sample), BATCH):
            index.embedder.embed(sample[i : i + BATCH])
        raw_rate = len(sample) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(0, len(items), BATCH):
            await svc.create_many(items[i : i + BATCH])
        ingest_rate = len(items) / (time.perf_counter() - t0)
        return {
            "context_vectors": mode,
            "raw_encoder_per_s": round(raw_rate, 1),
            "ingest_per_s": round(ingest_rate, 1),
            "ingest_vs_raw": round(ingest_rate / raw_rate, 3),
        }
    finally:
        await rt.close()


def baseline_collection(data_dir: Path, root: Path):
    """The baseline store: one plain chromadb collection holding the same vectors (as float32),
    the namespace as metadata — what a user of chromadb alone would build."""
    import chromadb
    import numpy as np

    conn = sqlite3.connect(data_dir / "memory.sqlite3")
    client = chromadb.PersistentClient(path=str(root / "baseline-chroma"))
    col = client.get_or_create_collection("memories", configuration={"hnsw": {"space": "cosine"}})
    if col.count() == 0:
        cur = conn.execute("SELECT namespace, id, vector FROM memory_vectors")
        while rows := cur.fetchmany(5000):
            col.add(
                ids=[r[1] for r in rows],
                embeddings=np.stack([np.frombuffer(r[2], dtype=np.float16) for r in rows]).astype(np.float32),
                metadatas=[{"ns": r[0]} for r in rows],
            )
    conn.close()
    return col


async def direct_chroma(data_dir: Path, queries: list[tuple[str, list[str]]]) -> list[float]:
    """The baseline: embed the query, query the collection filtered to the namespace."""
    import numpy as np

    from langmem_mcp.index.embeddings import make_embedder

    col = baseline_collection(data_dir, data_dir.parent / f"{data_dir.name}-baseline")
    embedder = make_embedder(load_settings(data_dir=data_dir).embedder)
    if hasattr(embedder, "load"):
        embedder.load()
    times = []
    for q, ns in queries:
        t0 = time.perf_counter()
        vec = embedder.embed([q])[0]
        col.query(
            query_embeddings=np.asarray(vec, dtype=np.float32).reshape(1, -1),
            n_results=10,
            where={"ns": "/".join(ns)},
            include=["distances"],
        )
        times.append(time.perf_counter() - t0)
    return times


def vm_hwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def over_stdio(
    data_dir: Path, queries: list[tuple[str, list[str]]]
) -> tuple[list[float], float | None, float | None]:
    """Search latencies, then the server's peak RSS after the searches and after it has also
    written (a write to a namespace in Chroma makes the owner load that collection's HNSW graph)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "langmem_mcp"], env=server_env(data_dir)
    )
    times = []
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                await s.call_tool("search_memory", {"query": "warm up", "namespace": queries[0][1]})
                for q, ns in queries:
                    t0 = time.perf_counter()
                    res = await s.call_tool("search_memory", {"query": q, "namespace": ns, "limit": 10})
                    times.append(time.perf_counter() - t0)
                    assert not res.is_error, res.content[0].text
                rss = _server_hwm()
                res = await s.call_tool(
                    "manage_memory",
                    {"action": "create", "content": "bench: one more", "namespace": queries[0][1]},
                )
                assert not res.is_error, res.content[0].text
                await s.call_tool("search_memory", {"query": queries[0][0], "namespace": queries[0][1]})
                rss_write = _server_hwm()
    return times, rss, rss_write


def _server_hwm() -> float | None:
    """VmHWM of the newest `python -m langmem_mcp` child of this process."""
    me = os.getpid()
    best = None
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = next((int(x.split()[1]) for x in text.splitlines() if x.startswith("PPid:")), None)
        if ppid == me and "langmem_mcp" in cmdline:
            best = vm_hwm_mib(int(status.parent.name))
    return best


def ms(xs: list[float]) -> dict:
    return summary(xs, 1000)


async def compare_ingest(n: int, modes: list[str], root: Path) -> list[dict]:
    """Bulk ingest of the same n memories under each context-vector mode, vs the raw encoder."""
    items, _ = corpus(n)
    rows = []
    for mode in modes:
        row = {"memories": n, **await ingest(root / f"ingest-{mode}", items, mode)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


async def run(
    sizes: list[int], n_queries: int, root: Path, build_mode: str = "neighbours", rounds: int = 3
) -> list[dict]:
    """Search latency and RSS per size. The store is built in `build_mode` (the fastest to fill;
    search cost does not depend on how the vectors were mixed). The searches run in `rounds`,
    each going through every size in turn (a fresh server each time), so a slow spell of the
    shared machine falls on all sizes alike instead of on whichever was measured then."""
    rows: dict[int, dict] = {}
    asked: dict[int, list[tuple[str, list[str]]]] = {}
    for n in sizes:
        items, queries = corpus(n)
        step = max(1, len(queries) // n_queries)
        asked[n] = queries[::step][:n_queries]
        rows[n] = {"memories": n, **await ingest(root / f"n{n}", items, build_mode)}
    ours: dict[int, list[float]] = {n: [] for n in sizes}
    base: dict[int, list[float]] = {n: [] for n in sizes}
    rss: dict[int, list[float]] = {n: [] for n in sizes}
    rss_write: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(rounds):
        for n in sizes:
            base[n] += await direct_chroma(root / f"n{n}", asked[n])
            times, peak, peak_write = await over_stdio(root / f"n{n}", asked[n])
            ours[n] += times
            rss[n] += [peak] if peak else []
            rss_write[n] += [peak_write] if peak_write else []
    results = []
    for n in sizes:
        row = rows[n]
        row["search_rounds"] = rounds
        row["search_ms"] = ms(ours[n])
        row["direct_chroma_ms"] = ms(base[n])
        row["search_vs_chroma_p50"] = round(statistics.median(ours[n]) / statistics.median(base[n]), 2)
        row["search_p50_per_round_ms"] = [
            round(1000 * statistics.median(ours[n][i : i + len(asked[n])]), 2)
            for i in range(0, len(ours[n]), len(asked[n]))
        ]
        row["server_peak_rss_mib"] = round(max(rss[n]), 1) if rss[n] else None
        row["server_peak_rss_after_a_write_mib"] = round(max(rss_write[n]), 1) if rss_write[n] else None
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["memories"] for r in results]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(n, [r["search_ms"]["p50"] for r in results], "o-", label="search_memory over stdio, p50")
    ax.plot(n, [r["search_ms"]["p95"] for r in results], "o--", label="search_memory over stdio, p95")
    ax.plot(n, [r["direct_chroma_ms"]["p50"] for r in results], "s-", label="direct chromadb query, p50")
    ax.set_xscale("log")
    ax.set_xlabel("memories in the store")
    ax.set_ylabel("ms per search")
    ax.set_title("langmem-mcp search latency")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="search rounds over all sizes")
    parser.add_argument("--build-mode", default="neighbours", choices=["window", "neighbours", "off"])
    parser.add_argument(
        "--ingest-size", type=int, default=2000, help="memories for the ingest comparison (0: skip)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/scale.json"))
    parser.add_argument("--plot", type=Path, default=Path("bench-results/search_latency.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ingest_rows = (
            asyncio.run(compare_ingest(args.ingest_size, ["window", "neighbours", "off"], Path(tmp)))
            if args.ingest_size
            else []
        )
        results = asyncio.run(run(args.sizes, args.queries, Path(tmp), args.build_mode, args.rounds))
    args.out.write_text(json.dumps({"ingest": ingest_rows, "search": results}, indent=2))
    try:
        plot(results, args.plot)
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)


if __name__ == "__main__":
    main()
