"""Page sizes and cursors as callers give them: one check for every paged listing."""

from __future__ import annotations

from typing import Any

from langmem_mcp.errors import InvalidInput


def rowid_cursor(cursor: Any) -> int:
    """A keyset cursor this server issued: the rowid after which the next page starts."""
    if cursor in (None, ""):
        return 0
    try:
        value = int(str(cursor))
    except ValueError as exc:
        raise InvalidInput(f"cursor {str(cursor)[:40]!r} is not one this server issued") from exc
    if value < 0:
        raise InvalidInput("cursor is not one this server issued")
    return value


def page_limit(limit: Any, default: int, maximum: int) -> int:
    if limit is None:
        return default
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInput("limit must be an integer")
    if not 1 <= limit <= maximum:
        raise InvalidInput(f"limit must be between 1 and {maximum}, not {limit}")
    return limit
