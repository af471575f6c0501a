"""Where the service model's entities live, and who may see them.

Each caller works in its **scope**: the namespace prefix of its principal (`access.current()`),
or the root ('') for local callers (stdio, CLI, loopback HTTP with no tokens). Users, threads
and memory functions are created in the caller's scope and looked up only there, so an id that
belongs to another scope is simply unknown (404), exactly like an id that exists nowhere:
nothing is revealed, and two scopes may even use the same ids.

Keys (namespace-style, checked with `access.check` before anything is read or written):

    <scope>/users/<user_id>            a user; also the namespace of its semantic memories
    <scope>/users/<user_id>/append     its user_append_state entries (all append functions)
    <scope>/threads/<thread_id>        a thread, its messages, thread state and summaries
    <scope>/memory-functions/<id>      a memory function

With the root scope these are `users/<id>` etc., so `search_memory` in namespace
`["users", "<user_id>"]` reaches a user's semantic memories.
"""

from __future__ import annotations

import uuid
from typing import Any

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import InvalidInput
from langmem_mcp.service import access

USERS = "users"
THREADS = "threads"
FUNCTIONS = "memory-functions"
APPEND = "append"


def current_scope() -> str:
    return access.current().prefix or ""


def segments(scope: str, *parts: str) -> list[str]:
    return [*(namespaces.split(scope) if scope else []), *parts]


def key(scope: str, *parts: str) -> str:
    return namespaces.join(segments(scope, *parts))


def checked(scope: str, *parts: str) -> str:
    """The key of an entity, refused (Forbidden) if it lies outside what the caller may touch."""
    return access.check(key(scope, *parts))


def user_namespace(scope: str, user_id: str) -> list[str]:
    return segments(scope, USERS, user_id)


def append_namespace(scope: str, user_id: str) -> list[str]:
    return segments(scope, USERS, user_id, APPEND)


def entity_id(value: Any, what: str) -> str:
    """An id as given by a caller: a UUID (any spelling, stored canonical) or a plain name that
    could be a namespace segment (no '/', no control characters, at most 128 characters)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string (a UUID or a name)")
    text = value.strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    try:
        namespaces.validate([text])
    except InvalidInput as exc:
        raise InvalidInput(f"{what} {text[:60]!r} is not usable: {exc}") from exc
    return text


def new_id() -> str:
    return str(uuid.uuid4())
