"""`langmem-mcp scan-secrets [--redact]`: find secrets already stored in a data dir, or redact them.

Reports where secrets are (which memory, thread message, state or prompt version, and of which
kind), never the secrets themselves. Exits 1 when it finds any that are not kept on purpose, so a
script can check a data dir. ``--redact`` replaces them by placeholders as new writes are, and
wipes the old text from the database file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from typing import TYPE_CHECKING

from langmem_mcp.config import ENV_PREFIX, Settings
from langmem_mcp.errors import LangmemError

if TYPE_CHECKING:
    from langmem_mcp.service.secret_scan import Redaction, Scan

NAME = "scan-secrets"
HELP = "report secrets already stored in the data dir (never their text); --redact replaces them"
KEEP = f"{ENV_PREFIX}KEEP_SECRETS_IN"
SHOWN = 20  # places listed per table; the rest are counted


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--redact",
        action="store_true",
        help="replace them by typed placeholders (memories are superseded and re-indexed) and wipe "
        "the old text from the database file",
    )


async def _run(settings: Settings, redact: bool) -> Scan | Redaction:
    from langmem_mcp.service import secret_scan
    from langmem_mcp.service.container import open_services

    async with open_services(settings) as services:
        if redact:
            return await secret_scan.redact_stored(services)
        return await secret_scan.scan_stored(services)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        result = asyncio.run(_run(settings, args.redact))
    except LangmemError as exc:
        print(f"langmem-mcp scan-secrets: {exc}", file=sys.stderr)
        return 1
    from langmem_mcp.service.secret_scan import Redaction

    if isinstance(result, Redaction):
        return _report_redaction(result)
    print_scan(result)
    if result.found:
        print("\nrun `langmem-mcp scan-secrets --redact` to replace them with placeholders")
        return 1
    return 0


def print_scan(scan: Scan) -> None:
    from langmem_mcp.service.secret_scan import TITLES

    for table, rows in scan.rows.items():
        hits = [h for h in scan.hits if h.table == table]
        found = [h for h in hits if not h.kept]
        kinds = Counter(k for h in found for k in h.kinds)
        by_kind = f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else ""
        print(f"{TITLES.get(table, table)}: {len(found)} of {rows} hold secrets{by_kind}")
        for h in found[:SHOWN]:
            print(f"  {h.where}: {', '.join(h.kinds)}")
        if len(found) > SHOWN:
            print(f"  … and {len(found) - SHOWN} more")
        kept = [h for h in hits if h.kept]
        if kept:
            print(f"  kept on purpose ({KEEP}): {len(kept)}")
            for h in kept[:SHOWN]:
                print(f"    {h.where}: {', '.join(h.kinds)}")


def _report_redaction(done: Redaction) -> int:
    from langmem_mcp.service.secret_scan import TITLES

    parts = [f"{n} {TITLES.get(t, t)}" for t, n in done.changed.items()]
    merged = (
        f" ({done.merged} merged into a memory that already had the redacted text)" if done.merged else ""
    )
    print(f"redacted {', '.join(parts) if parts else 'nothing'}{merged}")
    kept = [h for h in done.after.hits if h.kept]
    if kept:
        print(f"kept {len(kept)} on purpose, in namespaces under {KEEP}")
    if done.compacted:
        print("wiped the old text from the database file (FTS index merged, free pages dropped, log emptied)")
    else:
        print(f"warning: {done.note}", file=sys.stderr)
    if done.after.found:
        print("still holding secrets after redacting:", file=sys.stderr)
        print_scan(done.after)
        return 1
    return 0 if done.compacted else 1
