"""What capture has done and what it waits on, for a person to read (the memory browser's
captures page): the captured sessions, the durable queue with each failed job's error, and the
last errors the hooks recorded (`capture_log`), each paged.

Read only. Captured sessions are this machine's host sessions, stored in the local scope (their
threads and the ``projects/...`` namespaces), so only an unrestricted caller may read them: a token
limited to a namespace prefix gets a refusal that says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.errors import Forbidden
from langmem_mcp.service import access, capture_log
from langmem_mcp.store import capture as store

#: The most of each list one page shows.
MAX_PAGE = 100


@dataclass(frozen=True)
class Page:
    """One page of a list, and where the next one starts (None: this is the last)."""

    items: list[Any]
    next: int | None


@dataclass(frozen=True)
class CaptureStatus:
    state: store.QueueState
    sessions: Page  # store.SessionRow, most recently active first; next: an offset
    jobs: Page  # store.QueuedJob in queue order; next: the seq to continue after
    errors: Page  # capture_log entries, newest first; next: an offset
    log_file: str


def _check_access() -> None:
    if access.current().prefix is not None:
        raise Forbidden(
            "captured sessions are this machine's own (its Claude Code hooks and transcript imports), "
            "outside any token's namespaces: open the memory browser on this machine without a token "
            "(`langmem-mcp ui`) to see them"
        )


async def status(
    settings: Settings,
    *,
    limit: int = 20,
    sessions_from: int = 0,
    jobs_after: int = 0,
    errors_from: int = 0,
) -> CaptureStatus:
    """One page of each list (at most `limit` items) and the queue's counts."""
    _check_access()
    limit = max(1, min(limit, MAX_PAGE))

    def read() -> tuple[store.QueueState, list[store.SessionRow], list[store.QueuedJob]]:
        conn = store.connect(settings.db_path)
        try:
            return (
                store.queue_state(conn),
                store.session_page(conn, limit + 1, sessions_from),
                store.job_page(conn, limit + 1, jobs_after),
            )
        finally:
            conn.close()

    state, sessions, jobs = await asyncio.to_thread(read)
    errors = await asyncio.to_thread(capture_log.recent, settings.data_dir, errors_from + limit + 1)
    # The log is a file anyone may have edited: every field is shown as text.
    errors = [
        {str(k): v if isinstance(v, str) else str(v) for k, v in e.items()} for e in errors[errors_from:]
    ]
    return CaptureStatus(
        state=state,
        sessions=Page(sessions[:limit], sessions_from + limit if len(sessions) > limit else None),
        jobs=Page(jobs[:limit], jobs[limit - 1].seq if len(jobs) > limit else None),
        errors=Page(errors[:limit], errors_from + limit if len(errors) > limit else None),
        log_file=str(settings.data_dir / capture_log.LOG_FILE),
    )
