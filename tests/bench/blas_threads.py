"""Creates and searches with numpy's BLAS on one thread vs its default (a thread per core).

The exact vector scoring of a namespace is one small matrix-vector product. With OpenBLAS's own
threads it has to wait for a second core, which onnxruntime's threads (spinning after each
encoding) and the machine's other work keep busy; on one thread it does not wait. The server
sets OPENBLAS_NUM_THREADS=1 (cli.py) unless the environment says otherwise.

BLAS reads its thread count once, when numpy loads, so each variant runs in its own child
process, alternately (ABBA), on one prepared data dir: each child times `MemoryService.create`
(similarity check on) and `MemoryService.search` in a namespace of N memories. The figure is
the ratio of the medians of the children's p50s, one thread over default.

    python -m tests.bench.blas_threads [--size 2000] [--children 8] [--ops 30] [--out bench-results/blas_threads.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMESPACE = ["bench"]
QUESTIONS = [
    "What did Caroline research?",
    "When did Melanie paint a sunrise?",
    "What is Caroline's identity?",
    "What fields would Caroline pursue in her education?",
    "Where did Melanie camp?",
]


async def prepare(data_dir: Path, size: int) -> None:
    from langmem_mcp.config import load_settings
    from langmem_mcp.service.container import Services
    from langmem_mcp.service.memories import NewItem
    from langmem_mcp.service.runtime import Runtime
    from tests.bench.similar_check import texts

    rt = await Runtime.open(load_settings(data_dir=data_dir))
    try:
        svc = Services.build(rt).memories
        pool = texts(size)
        for start in range(0, size, 256):
            await svc.create_many([NewItem(t, NAMESPACE) for t in pool[start : start + 256]])
        # refine the bulk write's fast vectors now, not in a child's background while it is timed
        index = await rt.index.get()
        assert index.indexer is not None
        while await asyncio.to_thread(index.indexer.upgrade, index.embedder):
            pass
    finally:
        await rt.close()


async def child(data_dir: Path, ops: int, tag: str) -> dict:
    from langmem_mcp.config import load_settings
    from langmem_mcp.service.container import Services
    from langmem_mcp.service.runtime import Runtime

    rt = await Runtime.open(load_settings(data_dir=data_dir))
    try:
        svc = Services.build(rt).memories
        await rt.index.get()
        await svc.search(QUESTIONS[0], NAMESPACE)  # warm
        creates, searches = [], []
        for k in range(ops):
            t0 = time.perf_counter()
            await svc.create(f"Bench note {tag}-{k}: Caroline mentioned her garden again", NAMESPACE)
            creates.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await svc.search(QUESTIONS[k % len(QUESTIONS)], NAMESPACE)
            searches.append((time.perf_counter() - t0) * 1000)
        return {"create_ms_p50": statistics.median(creates), "search_ms_p50": statistics.median(searches)}
    finally:
        await rt.close()


def run(size: int, children: int, ops: int, work: Path) -> dict:
    data = work / "data"
    asyncio.run(prepare(data, size))
    got: dict[str, list[dict]] = {"default": [], "one": []}
    for k in range(children):
        variant = ("one", "default", "default", "one")[k % 4]  # ABBA
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if variant == "one":
            env["OPENBLAS_NUM_THREADS"] = "1"
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.blas_threads",
                "--child",
                str(data),
                "--ops",
                str(ops),
                "--tag",
                str(k),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        got[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(variant, got[variant][-1], flush=True)
    med = {
        v: {m: statistics.median(r[m] for r in rs) for m in ("create_ms_p50", "search_ms_p50")}
        for v, rs in got.items()
    }
    return {
        "namespace_size": size,
        "children_each": children // 2,
        "ops_per_child": ops,
        "cores": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "p50_ms": {v: {m: round(x, 2) for m, x in ms.items()} for v, ms in med.items()},
        "ratio_one_over_default": {m: round(med["one"][m] / med["default"][m], 3) for m in med["one"]},
        "children": got,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--ops", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench-results/blas_threads.json"))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.ops, args.tag))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.size, args.children, args.ops, Path(tmp))
    print(json.dumps({k: v for k, v in result.items() if k != "children"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
