"""`langmem-mcp dedupe [--namespace NS] [--threshold X] [--apply]`: find near-duplicate memories.

A dry run lists each cluster: the newest memory, which is kept, and the memories that say nearly
the same. With --apply the newest supersedes the others: they leave searches but stay readable
(include_superseded, as_of, their history), so nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError

NAME = "dedupe"
HELP = (
    "list clusters of near-duplicate memories (dry run); --apply keeps the newest and supersedes the others"
)
#: Same as service.memories.DEDUPE_THRESHOLD (not imported: this module stays light).
DEFAULT_THRESHOLD = 0.85


def add_arguments(p: argparse.ArgumentParser) -> None:
    # --namespace (one namespace, segments joined by '/') is the common option; without it,
    # every namespace is checked.
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cosine similarity of two memories' texts that makes them near-duplicates (default {DEFAULT_THRESHOLD})",
    )
    p.add_argument("--apply", action="store_true", help="supersede the older memories of each cluster")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


async def _dedupe(settings: Settings, namespace: list[str] | None, threshold: float, apply: bool) -> Any:
    from langmem_mcp.service.container import open_services

    async with open_services(settings) as services:
        return await services.memories.dedupe(namespace, threshold, apply)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.engine import namespaces

    try:
        ns = namespaces.parse(args.namespace) if getattr(args, "namespace", None) else None
        report = asyncio.run(_dedupe(settings, ns, args.threshold, args.apply))
    except LangmemError as exc:
        print(f"langmem-mcp dedupe: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        for cluster in report.clusters:
            print(f"{json.dumps(cluster.namespace)} keep {cluster.keep.id}  {cluster.keep.content[:100]!r}")
            for dup in cluster.duplicates:
                print(f"    {dup.similarity:.3f}  {dup.id}  {dup.content[:100]!r}")
    n = sum(len(c.duplicates) for c in report.clusters)
    if args.apply:
        summary = f"{len(report.clusters)} clusters; {report.superseded} memories superseded by the newest of theirs"
    else:
        summary = (
            f"{len(report.clusters)} clusters; {n} memories would be superseded "
            "(dry run: nothing changed; --apply to supersede them)"
        )
    print(summary, file=sys.stderr)
    return 0
