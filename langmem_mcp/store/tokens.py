"""Access tokens in SQLite. Only a SHA-256 of each token is kept: a stolen database file does
not hand out working tokens (tokens are 256-bit random, so an unsalted hash is enough)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from langmem_mcp.store.sqlite import Database, now_iso, sha256_hex


def token_hash(token: str) -> str:
    return sha256_hex(token)


@dataclass(frozen=True)
class TokenRow:
    id: str
    prefix: str
    name: str
    created_at: str
    revoked_at: str | None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> TokenRow:
        return cls(row["id"], row["prefix"], row["name"], row["created_at"], row["revoked_at"])

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_COLUMNS = "id, prefix, name, created_at, revoked_at"


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, token_id: str, token: str, prefix: str, name: str = "") -> TokenRow:
        created = now_iso()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO tokens (id, token_hash, prefix, name, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, token_hash(token), prefix, name, created),
            )
        return TokenRow(token_id, prefix, name, created, None)

    async def find_active(self, token: str) -> TokenRow | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM tokens WHERE token_hash = ? AND revoked_at IS NULL", (token_hash(token),)
        )
        return None if row is None else TokenRow.from_row(row)

    async def count_active(self) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL"))

    async def all(self) -> list[TokenRow]:
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_at, id")
        return [TokenRow.from_row(r) for r in rows]

    async def revoke(self, token_id: str) -> bool:
        """Mark a token revoked (kept for the record); False if no active token has that id."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now_iso(), token_id)
            )
            return cur.rowcount > 0
