"""Optimized prompts and their history: every text a named prompt has had, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from langmem_mcp.store.sqlite import Database, now_iso


@dataclass(frozen=True)
class PromptVersion:
    name: str
    version: int
    prompt: str
    source: str  # "given" (the text the caller passed) or "optimized"
    kind: str
    analysis: str
    created_at: str


_COLUMNS = "name, version, prompt, source, kind, analysis, created_at"


class PromptVersionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, scope: str, name: str, prompt: str, source: str, kind: str = "", analysis: str = ""
    ) -> int:
        """Append a version (unless it repeats the latest text); return the latest version number."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT version, prompt FROM prompt_versions WHERE scope = ? AND name = ?"
                " ORDER BY version DESC LIMIT 1",
                (scope, name),
            ) as cur:
                last = await cur.fetchone()
            if last is not None and last[1] == prompt:
                return int(last[0])
            version = 1 if last is None else int(last[0]) + 1
            await conn.execute(
                f"INSERT INTO prompt_versions (scope, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (scope, name, version, prompt, source, kind, analysis, now_iso()),
            )
            return version

    async def history(self, scope: str, name: str) -> list[PromptVersion]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM prompt_versions WHERE scope = ? AND name = ? ORDER BY version",
            (scope, name),
        )
        return [PromptVersion(*r) for r in rows]

    async def latest(self, scope: str, name: str) -> PromptVersion | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM prompt_versions WHERE scope = ? AND name = ?"
            " ORDER BY version DESC LIMIT 1",
            (scope, name),
        )
        return None if row is None else PromptVersion(*row)

    async def names(self, scope: str | None) -> list[tuple[str, int]]:
        """The named prompts of a scope (None: of every scope) with their latest version numbers."""
        where, params = ("WHERE scope = ?", (scope,)) if scope is not None else ("", ())
        rows = await self.db.fetchall(
            f"SELECT name, MAX(version) FROM prompt_versions {where} GROUP BY name ORDER BY name", params
        )
        return [(r[0], int(r[1])) for r in rows]
