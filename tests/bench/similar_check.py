"""What the similarity check costs a create: `MemoryService.create` with the check on vs off, in
the same run, on the same data dir, interleaved (so the machine's slow spells hit both alike).

For each namespace size N, a namespace is filled with N LoCoMo turns (as one conversation's
memories: `Speaker: text`), then new turns are created one at a time, alternating between a
service with the check on (LANGMEM_MCP_SIMILAR_THRESHOLD, default 0.6) and one with it off (0);
each create is timed from call to return (committed and indexed, as a tool call waits for). The
figure is the difference of the p50s (and their ratio), and the same for p95, over every round
and per round (the spread of the per-round differences shows how much the machine's state moved
the figure). The process's CPU time per create is recorded too: it moves much less with the
machine's load than the time does, and on two busy cores extra CPU time becomes latency. The check's own parts are timed alone too: one encoding of a text, and reading and
scoring the namespace's kept vectors. The load average is recorded: the machine is shared.

    python -m tests.bench.similar_check [--sizes 200 2000] [--creates 50] [--rounds 3] [--out bench-results/similar_check.json]
"""

from __future__ import annotations

import os

# As the server runs (cli.py): numpy's BLAS on one thread (tests/bench/blas_threads.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from langmem_mcp.config import load_settings  # noqa: E402
from langmem_mcp.engine import similarity  # noqa: E402
from langmem_mcp.service.container import Services  # noqa: E402
from langmem_mcp.service.memories import NewItem  # noqa: E402
from langmem_mcp.service.runtime import Runtime  # noqa: E402
from tests.bench.locomo_data import numbered_turns  # noqa: E402
from tests.bench.stats import percentile

NAMESPACE = ["bench"]


async def one_size(data_dir: Path, size: int, creates: int, rounds: int) -> dict:
    settings = load_settings(data_dir=data_dir)
    rt = await Runtime.open(settings)
    try:
        index = await rt.index.get()
        on = Services.build(rt).memories
        off = Services.build(rt).memories
        off.settings = replace(settings, similar_threshold=0.0)
        pool = numbered_turns(size + 2 * creates * rounds + 20)
        for start in range(0, size, 256):
            await on.create_many([NewItem(t, NAMESPACE) for t in pool[start : min(start + 256, size)]])
        # A bulk write is indexed with fast vectors and refined by the index worker when idle;
        # refine them all now, so that work does not run under the measurement.
        assert index.indexer is not None
        while await asyncio.to_thread(index.indexer.upgrade, index.embedder):
            pass
        fresh = pool[size:]
        for text in fresh[:10]:  # warm both paths (first encodings, caches)
            await on.create(text, NAMESPACE)
        fresh = fresh[10:]
        times: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        per_round: list[float] = []
        hinted = 0
        for r in range(rounds):
            got: dict[str, list[float]] = {"on": [], "off": []}
            for k in range(2 * creates):
                which, svc = (("on", on), ("off", off), ("off", off), ("on", on))[k % 4]  # ABBA order
                t0, c0 = time.perf_counter(), time.process_time()
                result = await svc.create(fresh[r * 2 * creates + k], NAMESPACE)
                got[which].append((time.perf_counter() - t0) * 1000)
                cpu[which].append((time.process_time() - c0) * 1000)
                hinted += bool(result.similar)
            per_round.append(statistics.median(got["on"]) - statistics.median(got["off"]))
            for key in times:
                times[key] += got[key]
        # the check's parts alone
        encode, score = [], []
        dim = index.embedder.dim
        used = 2 * creates * rounds
        for text in fresh[used : used + 10]:
            t0 = time.perf_counter()
            vector = index.embedder.embed([text])[0]
            t1 = time.perf_counter()
            matrix = await on.vectors.matrix("bench", dim, settings.exact_search_max)
            assert matrix is not None
            similarity.top_k(vector, matrix[1], 4)
            t2 = time.perf_counter()
            encode.append((t1 - t0) * 1000)
            score.append((t2 - t1) * 1000)
        p50 = {k: statistics.median(v) for k, v in times.items()}
        p95 = {k: percentile(v, 95) for k, v in times.items()}
        return {
            "namespace_size": size,
            "creates_each": creates * rounds,
            "rounds": rounds,
            "create_ms_p50": {k: round(v, 2) for k, v in p50.items()},
            "create_ms_p95": {k: round(v, 2) for k, v in p95.items()},
            "check_adds_ms_p50": round(p50["on"] - p50["off"], 2),
            "check_adds_ms_p95": round(p95["on"] - p95["off"], 2),
            "ratio_p50": round(p50["on"] / p50["off"], 3),
            "check_adds_ms_p50_per_round": [round(d, 2) for d in per_round],
            "cpu_ms_per_create_p50": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
            "check_adds_cpu_ms_p50": round(statistics.median(cpu["on"]) - statistics.median(cpu["off"]), 2),
            "creates_with_similar": f"{hinted}/{len(times['on'])}",
            "alone_ms_p50": {
                "encode_one_text": round(statistics.median(encode), 2),
                "read_and_score_vectors": round(statistics.median(score), 2),
            },
        }
    finally:
        await rt.close()


async def run(sizes: list[int], creates: int, rounds: int, work: Path) -> dict:
    results = []
    for size in sizes:
        load_before = os.getloadavg()[0]
        results.append(await one_size(work / f"n{size}", size, creates, rounds))
        results[-1]["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        print(json.dumps(results[-1]), flush=True)
    return {
        "similar_threshold": load_settings(environ={}).similar_threshold,
        "cores": os.cpu_count(),
        "sizes": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument(
        "--creates", type=int, default=50, help="creates with and without the check, per round"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-results/similar_check.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.sizes, args.creates, args.rounds, Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
