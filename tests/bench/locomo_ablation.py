"""The search's ranking steps on LoCoMo dev, one at a time, with leave-one-conversation-out choice.

Every turn is stored with a single create (in conversation order, or shuffled), the index worker
finishes, then every question of categories 1-4 is searched under each variant. For each held-out
conversation, the setting of a variant is chosen on the other four (best recall@10) and scored on
the held-out one: the held-out mean is what the method would do on conversations it was not tuned on.

    python -m tests.bench.locomo_ablation [--store DIR] [--shuffled] [--out bench-results/ablation.json]

`--store DIR` keeps the built store there and reuses it on the next run.
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

from langmem_mcp.config import Settings
from langmem_mcp.service import memories as search_module
from langmem_mcp.service.container import Services, open_services
from tests.bench.locomo_data import Conversation, load, recall

KS = (1, 5, 10, 20)


async def build(services: Services, convs: list[Conversation], shuffled: bool) -> dict[str, str]:
    memories = services.memories
    dia_of: dict[str, str] = {}
    for conv in convs:
        turns = list(conv.turns)
        if shuffled:
            random.Random(conv.name).shuffle(turns)
        for turn in turns:
            made = await memories.create(turn.memory, ["locomo", conv.name])
            dia_of[made.id] = turn.dia_id
    deadline = time.monotonic() + 1800
    while await services.runtime.memories.pending():
        if time.monotonic() > deadline:
            raise TimeoutError("the index worker did not catch up")
        await asyncio.sleep(0.5)
    return dia_of


async def score(
    services: Services, convs: list[Conversation], dia_of: dict[str, str], knobs: dict[str, Any]
) -> dict[str, dict[int, float]]:
    """recall@k per conversation under `knobs` (constants of service/memories.py)."""
    memories = services.memories
    saved = {k: getattr(search_module, k) for k in knobs}
    for k, v in knobs.items():
        setattr(search_module, k, v)
    try:
        out: dict[str, dict[int, float]] = {}
        for conv in convs:
            per_k: dict[int, list[float]] = {k: [] for k in KS}
            for q in conv.questions:
                hits = await memories.search(q.question, ["locomo", conv.name], limit=20)
                ranked = [dia_of.get(h.id, "") for h in hits]
                for k in KS:
                    per_k[k].append(recall(ranked, q.evidence, k))
            out[conv.name] = {k: statistics.mean(v) for k, v in per_k.items()}
        return out
    finally:
        for k, v in saved.items():
            setattr(search_module, k, v)


def pooled(
    per_conv: dict[str, dict[int, float]], convs: list[Conversation], names: list[str], k: int
) -> float:
    """Recall@k over the questions of `names` (each question counts once)."""
    n = {c.name: len(c.questions) for c in convs}
    return sum(per_conv[c][k] * n[c] for c in names) / sum(n[c] for c in names)


#: Each variant is a list of settings of the search's constants; one setting is a plain ablation,
#: several are chosen among on the other conversations (leave-one-conversation-out).
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "one BM25 list (context 0.4), MiniLM": [{"WINDOW_CONTEXT_WEIGHT": 0.0}],
    "+ BM25 over the stretch of talk (default)": [{}],
    "window BM25 weight, chosen": [{"WINDOW_CONTEXT_WEIGHT": w} for w in (0.7, 1.0, 1.5, 3.0)],
    "RRF k, chosen": [{"RRF_K": k} for k in (3, 5, 10, 20)],
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    convs = load()
    root = args.store or Path(tempfile.mkdtemp())
    settings = Settings(data_dir=root, llm="none")
    built = root / "dia_of.json"
    async with open_services(settings) as services:
        await services.runtime.index.get()
        if built.exists():
            dia_of = json.loads(built.read_text())
        else:
            dia_of = await build(services, convs, args.shuffled)
            built.write_text(json.dumps(dia_of))
        results: dict[str, Any] = {}
        names = [c.name for c in convs]
        for variant, settings_list in VARIANTS.items():
            if args.variants and variant not in args.variants:
                continue
            scored = [(knobs, await score(services, convs, dia_of, knobs)) for knobs in settings_list]
            best = max(scored, key=lambda p: pooled(p[1], convs, names, 10))
            loo = []
            for held in names:
                rest = [n for n in names if n != held]
                knobs, per = max(scored, key=lambda p: pooled(p[1], convs, rest, 10))
                loo.append((held, knobs, {k: per[held][k] for k in KS}))
            results[variant] = {
                "best_on_all": {
                    "knobs": best[0],
                    **{f"@{k}": round(100 * pooled(best[1], convs, names, k), 1) for k in KS},
                },
                "held_out": {
                    f"@{k}": round(
                        100
                        * sum(r[k] * len(c.questions) for (_, _, r), c in zip(loo, convs, strict=True))
                        / sum(len(c.questions) for c in convs),
                        1,
                    )
                    for k in KS
                },
                "chosen_per_fold": {held: knobs for held, knobs, _ in loo},
            }
            print(variant, json.dumps(results[variant]), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path)
    parser.add_argument("--shuffled", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--variants", nargs="*", help="only these variants")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
