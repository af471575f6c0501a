"""The write path, against the raw encoder measured in the same run; and what context does to
recall when turns are stored in conversation order and when they are stored shuffled.

1. The raw encoder (the bundled MiniLM): one text at a time (p50), and all the texts in one call
   (texts/s, batched over every core): the baselines.
2. Single `manage_memory` creates over stdio, one after another (p50, p95), at the default
   settings and with LANGMEM_MCP_CONTEXT_VECTORS=off.
3. Concurrent writers over HTTP (REST `POST /memories`, each client its own connection): writes/s
   vs the raw encoder's batched texts/s on the same texts.
4. LoCoMo dev: every turn stored with a single create ("Speaker: text", one namespace per
   conversation) in conversation order and shuffled, with context vectors at the default and off;
   each question of categories 1-4 searched once the index is idle. Turn recall@1/5/10/20 and
   session recall any@5/any@10 (sessions ranked by their best turn).

    python -m tests.bench.writes [--writes 300] [--clients 8] [--per-client 60] [--skip-locomo]
                                 [--out bench-results/writes.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from langmem_mcp.config import Settings
from langmem_mcp.index.embeddings import shared_embedder
from langmem_mcp.service.container import open_services
from tests.bench.locomo_data import Conversation, load, numbered_turns, recall
from tests.bench.stats import percentile
from tests.http_server import http_server
from tests.mcp_client import call, stdio_session

KS = (1, 5, 10, 20)


# -- 1. the raw encoder ------------------------------------------------------------------------------
def raw_encoder(sample: list[str]) -> dict[str, float]:
    embedder = shared_embedder("minilm-int8")
    embedder.embed(sample[:64])  # load and warm
    single = []
    for text in sample[:200]:
        t0 = time.perf_counter()
        embedder.embed([text])
        single.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    embedder.embed(sample)
    batched = len(sample) / (time.perf_counter() - t0)
    return {"single_p50_ms": round(statistics.median(single), 2), "batched_per_s": round(batched, 1)}


# -- 2. single writes over stdio -----------------------------------------------------------------
async def single_writes(data_dir: Path, sample: list[str], **env: str) -> dict[str, float]:
    times = []
    async with stdio_session(data_dir, **env) as s:
        await call(s, "manage_memory", content="warm-up: the model loads", namespace=["warm"])
        await call(s, "search_memory", query="warm-up", namespace=["warm"])
        for text in sample:
            t0 = time.perf_counter()
            await call(s, "manage_memory", content=text, namespace=["bench"])
            times.append((time.perf_counter() - t0) * 1000)
    return {
        "writes": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
    }


# -- 3. concurrent writers over HTTP ---------------------------------------------------------------
async def concurrent_writes(data_dir: Path, sample: list[str], clients: int) -> dict[str, float]:
    per_client = len(sample) // clients
    async with http_server(data_dir, "http") as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=120) as warm:
            r = await warm.post("/memories", json={"content": "warm-up", "namespace": ["warm"]})
            r.raise_for_status()

        async def writer(k: int) -> int:
            done = 0
            async with httpx2.AsyncClient(base_url=server.url, timeout=120) as http:
                for text in sample[k * per_client : (k + 1) * per_client]:
                    r = await http.post("/memories", json={"content": text, "namespace": ["bench", str(k)]})
                    r.raise_for_status()
                    done += 1
            return done

        t0 = time.perf_counter()
        done = sum(await asyncio.gather(*(writer(k) for k in range(clients))))
        seconds = time.perf_counter() - t0
    return {"clients": clients, "writes": done, "writes_per_s": round(done / seconds, 1)}


# -- 4. LoCoMo recall, in order and shuffled -----------------------------------------------------------
async def locomo(data_dir: Path, shuffled: bool, context_vectors: str) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, context_vectors=context_vectors, llm="none")  # type: ignore[arg-type]
    per_k: dict[int, list[float]] = {k: [] for k in KS}
    any_k: dict[int, list[float]] = {5: [], 10: []}
    async with open_services(settings) as services:
        memories = services.memories
        await services.runtime.index.get()
        convs: list[Conversation] = load()
        dia_of: dict[str, str] = {}
        for conv in convs:
            turns = list(conv.turns)
            if shuffled:
                random.Random(conv.name).shuffle(turns)
            for turn in turns:
                made = await memories.create(turn.memory, ["locomo", conv.name])
                dia_of[made.id] = turn.dia_id
        await wait_idle(services)
        for conv in convs:
            for q in conv.questions:
                hits = await memories.search(q.question, ["locomo", conv.name], limit=20)
                ranked = [dia_of.get(h.id, "") for h in hits]
                for k in KS:
                    per_k[k].append(recall(ranked, q.evidence, k))
                sessions = list(dict.fromkeys(d.split(":")[0] for d in ranked))
                wanted = {e.split(":")[0] for e in q.evidence}
                for k in any_k:
                    any_k[k].append(float(bool(wanted & set(sessions[:k]))))
    return {
        "order": "shuffled" if shuffled else "in order",
        "context_vectors": context_vectors,
        "questions": len(per_k[10]),
        "recall": {f"@{k}": round(100 * statistics.mean(v), 1) for k, v in per_k.items()},
        "sessions_any": {f"@{k}": round(100 * statistics.mean(v), 1) for k, v in any_k.items()},
    }


async def wait_idle(services: Any, timeout: float = 600) -> None:
    """Until the index worker has finished every pending row (contexts and vectors)."""
    deadline = time.monotonic() + timeout
    while await services.runtime.memories.pending():
        if time.monotonic() > deadline:
            raise TimeoutError("the index worker did not catch up")
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.only_locomo:
        with tempfile.TemporaryDirectory() as tmp:
            return {
                "locomo": [
                    await locomo(Path(tmp) / f"l{i}", sh, mode)
                    for i, (sh, mode) in enumerate(args.only_locomo)
                ]
            }
    sample = numbered_turns(max(args.writes, args.clients * args.per_client, 600))
    out: dict[str, Any] = {"raw_encoder": raw_encoder(sample[:600])}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out["single_write_default"] = await single_writes(root / "a", sample[: args.writes])
        out["single_write_context_off"] = await single_writes(
            root / "b", sample[: args.writes], LANGMEM_MCP_CONTEXT_VECTORS="off"
        )
        conc = await concurrent_writes(root / "c", sample[: args.clients * args.per_client], args.clients)
        conc["ratio_to_raw_batched"] = round(conc["writes_per_s"] / out["raw_encoder"]["batched_per_s"], 3)
        out["concurrent_http"] = conc
        if not args.skip_locomo:
            out["locomo"] = [
                await locomo(root / f"l{i}", shuffled, mode)
                for i, (shuffled, mode) in enumerate(
                    [(False, "window"), (False, "off"), (True, "window"), (True, "off")]
                )
            ]
    single = out["single_write_default"]["p50_ms"]
    out["single_write_ratio_to_raw_single"] = round(single / out["raw_encoder"]["single_p50_ms"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=60)
    parser.add_argument("--skip-locomo", action="store_true")
    parser.add_argument(
        "--only-locomo",
        nargs="+",
        type=lambda v: (v.split(":")[0] == "shuffled", v.split(":")[1]),
        metavar="ORDER:MODE",
        help="only these LoCoMo runs, e.g. inorder:window shuffled:off",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
