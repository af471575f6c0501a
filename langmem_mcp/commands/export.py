"""`langmem-mcp export [FILE]`: every record of the data dir as JSONL (stdout without FILE)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError

NAME = "export"
HELP = "write every memory and record of the data dir as JSON lines (to FILE or stdout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="output file (default: stdout)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.service import transfer

    try:
        asyncio.run(transfer.check_schema(settings))
        records = transfer.export_records(settings.db_path)
        if args.file:
            out = Path(args.file)
            tmp = out.with_name(out.name + ".partial")
            with tmp.open("w", encoding="utf-8") as fh:
                counts = transfer.write_jsonl(records, fh)
            tmp.replace(out)
        else:
            counts = transfer.write_jsonl(records, sys.stdout)
            sys.stdout.flush()
    except LangmemError as exc:
        print(f"langmem-mcp export: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{n} {t}" for t, n in counts.items()) or "nothing"
    print(f"exported {summary}", file=sys.stderr)
    return 0
