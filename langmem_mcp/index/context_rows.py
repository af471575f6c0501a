"""Memories' contexts, read and kept in SQLite by the index worker (on its own connection).

Which neighbours are context is the engine's rule (`engine.context.conversation_neighbours`);
this module reads the memories around one, stores the context it gives, and sends the neighbours
whose context a change may touch back to the worker.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from langmem_mcp.engine import context as ctx
from langmem_mcp.store.index_state import SEND_BACK_NEIGHBOURS


def _turn(row: sqlite3.Row | tuple[str, str, str]) -> ctx.Turn:
    content, metadata, created = row
    try:
        meta = json.loads(metadata)
    except ValueError:
        meta = {}
    return ctx.Turn(content, meta if isinstance(meta, dict) else {}, datetime.fromisoformat(created))


def context_of(conn: sqlite3.Connection, rowid: int, policy: ctx.ContextPolicy) -> str | None:
    """The context the rule gives the memory at `rowid` now (None: the row is gone)."""
    me = conn.execute(
        "SELECT namespace, content, metadata, created_at FROM memories WHERE rowid = ?", (rowid,)
    ).fetchone()
    if me is None:
        return None
    sides = []
    for op, order in (("<", "DESC"), (">", "ASC")):
        rows = conn.execute(
            f"SELECT content, metadata, created_at FROM memories WHERE namespace = ? AND rowid {op} ? "
            f"ORDER BY rowid {order} LIMIT ?",
            (me[0], rowid, policy.reach),
        ).fetchall()
        sides.append([_turn(r) for r in rows])
    before, after = ctx.conversation_neighbours(_turn(me[1:]), sides[0], sides[1], policy)
    return ctx.join(list(reversed(before)), after)


def touch_neighbours(conn: sqlite3.Connection, namespace: str, rowid: int, reach: int) -> None:
    """The memories within `reach` of `rowid` whose context is settled go back to the worker."""
    conn.execute(SEND_BACK_NEIGHBOURS, (namespace, rowid, reach))
