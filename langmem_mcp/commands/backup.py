"""`langmem-mcp backup DEST`: a consistent copy of the data dir, safe while servers run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError

NAME = "backup"
HELP = "copy the data dir's database to DEST (a new directory) while servers keep running"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dest", help="a new or empty directory; use it as a data dir to restore")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.service import transfer

    dest = Path(args.dest).expanduser().resolve()
    try:
        asyncio.run(transfer.check_schema(settings))
        n = transfer.backup(settings.db_path, dest)
    except LangmemError as exc:
        print(f"langmem-mcp backup: {exc}", file=sys.stderr)
        return 1
    print(
        f"backed up {n} memories to {dest}. To restore, use it as the data dir "
        f"(LANGMEM_MCP_DATA_DIR={dest}); its vectors come along, no re-embedding needed.",
        file=sys.stderr,
    )
    return 0
