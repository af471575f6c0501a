"""Who may touch which namespaces, for the request being served.

Network surfaces authenticate a token and set the caller's principal for the request (a
context variable, so it follows the request through every await). Services check each
namespace they are about to touch; local callers (stdio, CLI) are unrestricted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    """A caller limited to namespaces under `prefix` (segments joined by "/"); None: everything."""

    prefix: str | None = None
    token_id: str | None = None

    def allows(self, namespace_key: str) -> bool:
        return self.prefix is None or namespaces.is_under(namespace_key, self.prefix)


UNRESTRICTED = Principal()
_current: ContextVar[Principal] = ContextVar("langmem_principal", default=UNRESTRICTED)


def current() -> Principal:
    return _current.get()


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)


def check(namespace_key: str) -> str:
    """Refuse a namespace outside the caller's prefix, before any data is read: the refusal
    must not reveal whether anything exists there."""
    principal = _current.get()
    if not principal.allows(namespace_key):
        raise Forbidden(
            f"this token may only use namespaces under {namespaces.split(principal.prefix or '')}; "
            f"{namespaces.split(namespace_key)} is outside it"
        )
    return namespace_key
