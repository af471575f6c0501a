"""Where capture records what went wrong, for `langmem-mcp doctor` ("last hook errors").

A hook never fails its host's action: on any error it exits 0 and prints nothing. So the error
has to be written somewhere a person will look. It goes to a small JSON-lines file in the data
dir rather than the database, because the database may be what failed (locked, unreadable, a
newer version). The file keeps its newest entries only.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_FILE = "hook-errors.jsonl"
#: Past this size the oldest half of the entries is dropped.
MAX_BYTES = 256 * 1024


def record(data_dir: Path, event: str, error: str, detail: str = "", **fields: Any) -> None:
    """Append one entry; never raises (it is what runs when something else already failed)."""
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, "error": error}
    if detail:
        entry["detail"] = detail[-4000:]
    entry.update({k: v for k, v in fields.items() if v is not None})
    path = data_dir / LOG_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if path.stat().st_size > MAX_BYTES:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            tmp = path.with_name(f"{LOG_FILE}.{os.getpid()}.tmp")
            tmp.write_text("".join(lines[len(lines) // 2 :]), encoding="utf-8")
            os.replace(tmp, path)
    except OSError:
        pass


def recent(data_dir: Path, n: int = 5) -> list[dict[str, Any]]:
    """The newest ``n`` entries, newest first (unreadable lines are skipped)."""
    try:
        lines = (data_dir / LOG_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
        if len(out) >= n:
            break
    return out
