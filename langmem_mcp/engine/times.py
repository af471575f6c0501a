"""Points in time as callers give them (ISO 8601 dates or date-times), and the time conditions of
a search as SQL over a memory `m`.

Every time is stored in one spelling, UTC `datetime.isoformat()` ("2025-06-01T14:30:00.123456+00:00";
rows from before schema 9 are respelt once, see store.memories.ensure_keys), and such texts order
as the times do, to the microsecond. So a condition compares text, and a given time is turned
into that spelling first. A date alone means midnight UTC; a time without an offset is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from langmem_mcp.errors import InvalidInput


def instant(value: Any, name: str, end_of_day: bool = False) -> str | None:
    """`value` (None, an ISO date or date-time) as a UTC ISO string; InvalidInput naming `name`
    when it is not one. `end_of_day`: a date alone is the start of the next day (the end of a
    range that includes its whole last day)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(
                f"{name} {text[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time; "
                "write it like 2025-06-01 or 2025-06-01T14:30:00Z"
            ) from exc
        if end_of_day and len(text) == 10:  # a date alone
            moment += timedelta(days=1)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day) + timedelta(days=1 if end_of_day else 0)
    else:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date or date-time such as 2025-06-01 or 2025-06-01T14:30:00Z"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError as exc:
        raise InvalidInput(f"{name} is out of range") from exc


def conditions(
    *,
    current_only: bool,
    as_of: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
) -> tuple[str, list[Any]]:
    """The time conditions of a search as (SQL over `m`, params); '' when there are none.

    `as_of`: memories valid then (valid_from ≤ as_of < valid_to), superseded or not;
    otherwise `current_only` keeps the memories valid now. `created_after` ≤ created_at <
    `created_before`."""
    clauses: list[str] = []
    params: list[Any] = []
    if as_of is not None:
        clauses.append("m.valid_from <= ? AND (m.valid_to IS NULL OR ? < m.valid_to)")
        params += [as_of, as_of]
    elif current_only:
        clauses.append("m.valid_to IS NULL")
    if created_after is not None:
        clauses.append("m.created_at >= ?")
        params.append(created_after)
    if created_before is not None:
        clauses.append("m.created_at < ?")
        params.append(created_before)
    return " AND ".join(clauses), params


def both(first: tuple[str, list[Any]], second: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """Two SQL conditions (either may be '') that must both hold."""
    parts = [c for c, _ in (first, second) if c]
    if not parts:
        return "", []
    return "(" + ") AND (".join(parts) + ")", [*first[1], *second[1]]
