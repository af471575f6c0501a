"""Run every benchmark and write bench-results/results.json (+ the latency plot).

    python -m tests.bench.run_all [--sizes 1000 10000 100000] [--skip-scale]

Each figure is a ratio against a baseline measured in the same run: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from tests.bench import cold_start, hooks, locomo_baselines, locomo_recall, scale

OUT = Path("bench-results")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["cold_start"] = asyncio.run(cold_start.run(15, Path(tmp) / "cold"))
        print(json.dumps(results["cold_start"]), flush=True)
        results["hooks"] = asyncio.run(hooks.run(15, Path(tmp) / "hooks"))
        print(json.dumps(results["hooks"]["with_server"]), flush=True)
        results["locomo_baselines"] = locomo_baselines.run()
        results["locomo_mcp"] = asyncio.run(locomo_recall.run(Path(tmp) / "locomo"))
        print(json.dumps(results["locomo_mcp"]), flush=True)
        if not args.skip_scale:
            modes = ["window", "neighbours", "off"]
            results["ingest"] = asyncio.run(scale.compare_ingest(2000, modes, Path(tmp) / "ingest"))
            results["scale"] = asyncio.run(scale.run(args.sizes, args.queries, Path(tmp) / "scale"))
            scale.plot(results["scale"], OUT / "search_latency.png")
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
