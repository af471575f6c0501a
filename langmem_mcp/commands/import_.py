"""`langmem-mcp import FILE.jsonl`: load an export, or simple lines of memories, into the data dir."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.errors import LangmemError

NAME = "import"
HELP = 'import JSON lines: an export, or {"content": ..., "namespace": [...], "metadata": {...}} per line'


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .jsonl file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


class Bar:
    """A one-line progress bar on stderr (redrawn at most 10 times a second)."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.start = self._last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.1 or self.done >= self.total):
            self._last = now
            frac = min(self.done / self.total, 1.0)
            rate = self.done / max(now - self.start, 1e-9)
            sys.stderr.write(
                f"\rimporting [{'#' * int(frac * 30):<30}] {self.done}/{self.total} {frac:4.0%} {rate:6.0f}/s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


async def _import(settings: Settings, path: Path, bar: Bar) -> Any:
    from langmem_mcp.service import transfer
    from langmem_mcp.service.container import open_services

    async with open_services(settings) as services:
        return await transfer.import_file(services, path, bar)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.service import transfer

    path = Path(args.file)
    if not path.is_file():
        print(f"langmem-mcp import: {path} is not a file", file=sys.stderr)
        return 2
    bar = Bar(transfer.count_lines(path), enabled=not args.quiet)
    try:
        report = asyncio.run(_import(settings, path, bar))
    except LangmemError as exc:
        bar.close()
        print(f"langmem-mcp import: {exc}", file=sys.stderr)
        return 1
    bar.close()
    rows = "".join(f", {n} {t}" for t, n in report.rows.items())
    print(
        f"imported {report.created} memories ({report.existing} already there){rows}",
        file=sys.stderr,
    )
    return 0
