"""Access tokens: create, list, revoke, and turn a presented token into a Principal.

A token grants the namespaces under one prefix (e.g. `users/alice`). The network surfaces
authenticate with `authenticate`; services then enforce the prefix through `access.check`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import NotFound
from langmem_mcp.service.access import Principal
from langmem_mcp.store.sqlite import Database
from langmem_mcp.store.tokens import TokenRow, TokenStore

TOKEN_PREFIX = "lmm_"


@dataclass(frozen=True)
class NewToken:
    """A token just made: the only time its secret is seen (only a hash is stored)."""

    row: TokenRow
    token: str  # shown once, never stored


class TokenService:
    """Bearer tokens that confine an HTTP client to a namespace prefix (`langmem-mcp token`)."""

    def __init__(self, db: Database) -> None:
        self.store = TokenStore(db)

    async def create(self, prefix: str, name: str = "") -> NewToken:
        key = namespaces.join(namespaces.parse(prefix))  # validated, normalised "a/b"
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = await self.store.add(secrets.token_hex(4), token, key, name)
        return NewToken(row, token)

    async def list(self) -> list[TokenRow]:
        return await self.store.all()

    async def revoke(self, token_id: str) -> None:
        if not await self.store.revoke(token_id):
            raise NotFound(f"no active token with id {token_id!r} (see `langmem-mcp token list`)")

    async def any_active(self) -> bool:
        return await self.store.count_active() > 0

    async def authenticate(self, token: str | None) -> Principal | None:
        """The principal a token acts as, or None if it is missing, unknown or revoked."""
        if not token or len(token) > 200:
            return None
        row = await self.store.find_active(token)
        return None if row is None else Principal(prefix=row.prefix, token_id=row.id)
