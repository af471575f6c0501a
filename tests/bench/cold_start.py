"""Cold start: spawn → initialize → tools/list, ours vs a bare one-tool MCPServer, interleaved.

The machine is shared and noisy, so the figure is the ratio of medians measured in the same run.

    python -m tests.bench.cold_start [--runs 15] [--out cold_start.json]
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

from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.mcp_client import server_env

HERE = Path(__file__).resolve().parent


async def spawn_to_tools_list(params: StdioServerParameters) -> float:
    t0 = time.perf_counter()
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session.list_tools()
                elapsed = time.perf_counter() - t0
    return elapsed


async def run(runs: int, data_dir: Path) -> dict:
    bare = StdioServerParameters(command=sys.executable, args=[str(HERE / "bare_server.py")])
    variants = {
        "bare": bare,
        "langmem-mcp": StdioServerParameters(
            command=sys.executable, args=["-m", "langmem_mcp"], env=server_env(data_dir)
        ),
        "langmem-mcp (LANGMEM_MCP_TOOLS=memory)": StdioServerParameters(
            command=sys.executable,
            args=["-m", "langmem_mcp"],
            env=server_env(data_dir, LANGMEM_MCP_TOOLS="memory"),
        ),
    }
    await spawn_to_tools_list(variants["langmem-mcp"])  # creates the data dir: not a cold *start*
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(runs):  # interleaved, so load on the machine hits all alike
        for name, params in variants.items():
            times[name].append(await spawn_to_tools_list(params))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "runs": runs,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "ratio_vs_bare": {k: round(v / med["bare"], 3) for k, v in med.items() if k != "bare"},
        "target_ratio": 1.15,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.runs, Path(tmp)))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
