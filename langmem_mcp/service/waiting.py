"""Work that waits for a model: captured conversations not yet distilled, and raw episodes.

Cheap on purpose (SQLite only, no model, no index, nothing imported beyond the standard library),
so a hook that must answer fast, such as Claude Code's ``SessionStart``, can say how much is waiting:

    from langmem_mcp.service.waiting import waiting_work, count_waiting
    work = await waiting_work(db)          # db: an open store.sqlite.Database
    work = count_waiting(conn)             # the same on a plain sqlite3 connection (a hook's)
    if work.total:
        context += work.describe()

A thread waits for distillation while it has user messages past its distill watermark (a row of
``svc_watermarks`` under the reserved function id :data:`DISTILL`, which no memory function can
have: ids contain no ``/``). Formation with a server model moves it as it forms semantic memories;
the host agent moves it by completing a ``distill`` task; a server model does through the same
task. Raw episodes are episode memories (``kind: episode``) stored without a model.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the async layer (aiosqlite) stays out of a hook's imports
    from langmem_mcp.store.sqlite import Database

#: The watermark function id of distillation (per thread, user '').
DISTILL = "distill/facts"
#: Roles whose messages hold nothing about the user to distil.
NOT_AUTHORED = ("assistant", "system", "tool", "function", "developer", "ai")
EPISODES = "episodes"

#: The watermark is joined once per thread: as a scalar subquery inside the EXISTS it ran once per
#: message of the thread (tests/bench/hooks.py measures both).
_THREAD_FILTER = """
    FROM svc_threads t
    LEFT JOIN svc_watermarks w
      ON w.scope = t.scope AND w.thread_id = t.id AND w.function_id = ? AND w.user_id = ''
    WHERE {scope} EXISTS (
        SELECT 1 FROM svc_messages m
        WHERE m.scope = t.scope AND m.thread_id = t.id
          AND m.seq > COALESCE(w.seq, 0)
          AND lower(m.role) NOT IN ({roles})
    )
"""


@dataclass(frozen=True)
class WaitingWork:
    """How much waits for a model."""

    threads: int  # conversations (threads) with messages not yet distilled into memories
    episodes: int  # raw episodes not yet distilled into worked examples

    @property
    def total(self) -> int:
        return self.threads + self.episodes

    def describe(self) -> str:
        """One line for a context block ('' when nothing waits)."""
        parts = []
        if self.threads:
            parts.append(f"{self.threads} conversation{'s' if self.threads != 1 else ''}")
        if self.episodes:
            parts.append(f"{self.episodes} raw episode{'s' if self.episodes != 1 else ''}")
        if not parts:
            return ""
        return (
            f"{' and '.join(parts)} wait{'s' if self.total == 1 else ''} to be distilled into memories; "
            "the MCP prompt `distill` walks you through it (no model is needed on the server)."
        )


def _scope_sql(scope: str | None, column: str) -> tuple[str, list[str]]:
    return ("", []) if scope is None else (f"{column} = ? AND", [scope])


async def waiting_threads(db: Database, scope: str | None = "", limit: int = 0) -> list[tuple[str, str]]:
    """``(scope, thread_id)`` of the threads waiting for distillation, least recently updated first."""
    where, params = _scope_sql(scope, "t.scope")
    roles = ",".join("?" * len(NOT_AUTHORED))
    rows = await db.fetchall(
        "SELECT t.scope, t.id"
        + _THREAD_FILTER.format(scope=where, roles=roles)
        + " ORDER BY t.updated_at, t.id"
        + (" LIMIT ?" if limit else ""),
        (DISTILL, *params, *NOT_AUTHORED, *([limit] if limit else [])),
    )
    return [(r[0], r[1]) for r in rows]


def _episodes_range(scope: str | None) -> tuple[str, list[str]]:
    """Namespaces ``<scope>/episodes`` and below, as an index range (``/`` sorts just before ``0``)."""
    if scope is None:
        return "1 = 1", []
    base = f"{scope}/{EPISODES}" if scope else EPISODES
    return "(namespace = ? OR (namespace >= ? AND namespace < ?))", [base, base + "/", base + "0"]


async def raw_episode_ids(db: Database, scope: str | None = "", limit: int = 0) -> list[tuple[str, str]]:
    """``(id, namespace)`` of raw episodes, oldest first."""
    where, params = _episodes_range(scope)
    rows = await db.fetchall(
        f"SELECT id, namespace FROM memories WHERE {where}"
        " AND json_extract(metadata, '$.kind') = 'episode' AND json_extract(metadata, '$.status') = 'raw'"
        " ORDER BY rowid" + (" LIMIT ?" if limit else ""),
        (*params, *([limit] if limit else [])),
    )
    return [(r[0], r[1]) for r in rows]


def _counts(scope: str | None) -> tuple[tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]]]:
    """The two COUNT queries (threads, raw episodes) with their parameters."""
    where, params = _scope_sql(scope, "t.scope")
    roles = ",".join("?" * len(NOT_AUTHORED))
    threads = (
        "SELECT COUNT(*)" + _THREAD_FILTER.format(scope=where, roles=roles),
        (DISTILL, *params, *NOT_AUTHORED),
    )
    ep_where, ep_params = _episodes_range(scope)
    episodes = (
        f"SELECT COUNT(*) FROM memories WHERE {ep_where}"
        " AND json_extract(metadata, '$.kind') = 'episode' AND json_extract(metadata, '$.status') = 'raw'",
        tuple(ep_params),
    )
    return threads, episodes


async def waiting_work(db: Database, scope: str | None = "") -> WaitingWork:
    """How much waits for a model in ``scope`` (the namespace prefix of a token; '' for local
    callers; None for every scope)."""
    (threads, t_params), (episodes, e_params) = _counts(scope)
    return WaitingWork(
        int(await db.scalar(threads, t_params) or 0), int(await db.scalar(episodes, e_params) or 0)
    )


def count_waiting(conn: sqlite3.Connection, scope: str | None = "") -> WaitingWork:
    """`waiting_work` on a plain sqlite3 connection: what a hook process has (no asyncio, no
    aiosqlite)."""
    (threads, t_params), (episodes, e_params) = _counts(scope)
    return WaitingWork(
        int(conn.execute(threads, t_params).fetchone()[0] or 0),
        int(conn.execute(episodes, e_params).fetchone()[0] or 0),
    )
