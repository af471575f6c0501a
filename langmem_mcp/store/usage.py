"""Token usage of every model call, so spending is visible after the fact (``llm://usage``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langmem_mcp.store.sqlite import Database


@dataclass(frozen=True)
class UsageTotal:
    backend: str
    model: str
    procedure: str
    calls: int
    input_tokens: int
    output_tokens: int
    estimated: bool


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        *,
        backend: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        procedure: str = "",
        estimated: bool = False,
        at: float | None = None,
    ) -> None:
        when = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO llm_usage (at, backend, model, procedure, input_tokens, output_tokens, estimated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    when.isoformat(),
                    backend,
                    model or "",
                    procedure,
                    int(input_tokens),
                    int(output_tokens),
                    int(estimated),
                ),
            )

    async def totals(self) -> list[UsageTotal]:
        """Calls and tokens per backend, model and procedure (estimated counts kept apart)."""
        rows = await self.db.fetchall(
            "SELECT backend, model, procedure, COUNT(*), SUM(input_tokens), SUM(output_tokens), estimated"
            " FROM llm_usage GROUP BY backend, model, procedure, estimated"
            " ORDER BY backend, model, procedure"
        )
        return [UsageTotal(r[0], r[1], r[2], r[3], r[4] or 0, r[5] or 0, bool(r[6])) for r in rows]

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT at, backend, model, procedure, input_tokens, output_tokens, estimated"
            " FROM llm_usage ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [{**dict(r), "estimated": bool(r["estimated"])} for r in rows]
