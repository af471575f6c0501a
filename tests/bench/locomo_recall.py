"""LoCoMo turn-evidence recall through the MCP tools, as a host would use them.

Stores every turn as one memory "Speaker: text" with manage_memory (one namespace per
conversation), asks every question of categories 1-4 with search_memory, and reports
recall@1/5/10 (limit=10) and @20 (limit=20).

    python -m tests.bench.locomo_recall [--exact-search-max 0] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

from tests.bench.locomo_data import load, recall
from tests.indexing import wait_indexed_dir
from tests.mcp_client import call, stdio_session

KS = (1, 5, 10, 20)


async def run(
    data_dir: Path, context_vectors: str | None = None, exact_search_max: int | None = None
) -> dict:
    conversations = load()
    per_k: dict[int, list[float]] = {k: [] for k in KS}
    per_conv: dict[str, float] = {}
    t0 = time.perf_counter()
    env = {"LANGMEM_MCP_CONTEXT_VECTORS": context_vectors} if context_vectors else {}
    if exact_search_max is not None:  # 0: every namespace is searched through its Chroma collection
        env["LANGMEM_MCP_EXACT_SEARCH_MAX"] = str(exact_search_max)
    async with stdio_session(data_dir, **env) as s:
        for conv in conversations:
            ns = ["locomo", conv.name]
            dia_of: dict[str, str] = {}
            for turn in conv.turns:
                r = await call(s, "manage_memory", content=turn.memory, namespace=ns)
                dia_of[r["id"]] = turn.dia_id
            # The index worker adds the conversation's contexts (and the collection) afterwards.
            await wait_indexed_dir(data_dir, timeout=1800)
            conv_r10 = []
            for q in conv.questions:
                top10 = (await call(s, "search_memory", query=q.question, limit=10, namespace=ns))["memories"]
                top20 = (await call(s, "search_memory", query=q.question, limit=20, namespace=ns))["memories"]
                r10 = [dia_of.get(h["id"], "") for h in top10]
                r20 = [dia_of.get(h["id"], "") for h in top20]
                for k in KS:
                    per_k[k].append(recall(r20 if k == 20 else r10, q.evidence, k))
                conv_r10.append(recall(r10, q.evidence, 10))
            per_conv[conv.name] = round(100 * mean(conv_r10), 1)
    return {
        "context_vectors": context_vectors or "window",
        "exact_search_max": exact_search_max if exact_search_max is not None else "default",
        "questions": len(per_k[10]),
        "recall": {f"@{k}": round(100 * mean(v), 1) for k, v in per_k.items()},
        "recall@10_per_conversation": per_conv,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--context-vectors", choices=["window", "neighbours", "off"])
    parser.add_argument("--exact-search-max", type=int, help="0: every search through Chroma")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(Path(tmp), args.context_vectors, args.exact_search_max))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
