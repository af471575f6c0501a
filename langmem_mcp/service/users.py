"""Users: create, get, update, list (by name or id). Users also appear on their own when a
message names them (`metadata.user_id`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langmem_mcp.engine import validation
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.service import scoping
from langmem_mcp.service.models.langmem import User, UserList
from langmem_mcp.service.paging import page_limit, rowid_cursor
from langmem_mcp.store.users import UserRow, UserStore

MAX_NAME = 512
MAX_TAGS = 100


def to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        name=row.name,
        tags=row.tags,
        metadata=row.metadata,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"name must be a string, not {type(value).__name__}")
    if len(value) > MAX_NAME:
        raise InvalidInput(f"name is {len(value)} characters long; at most {MAX_NAME}")
    return value


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("tags must be a list of strings")
    if len(value) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    out = []
    for t in value:
        if not isinstance(t, str) or not t or len(t) > 128:
            raise InvalidInput(f"tag {t!r} must be a non-empty string of at most 128 characters")
        out.append(t)
    return out


class UserService:
    """Users of the caller's scope: created on their own when a message names them, or by hand."""

    def __init__(self, store: UserStore) -> None:
        self.store = store

    async def row(self, scope: str, user_id: Any) -> UserRow:
        uid = scoping.entity_id(user_id, "user_id")
        scoping.checked(scope, scoping.USERS, uid)
        row = await self.store.get_user(scope, uid)
        if row is None:
            raise NotFound(f"no user with id {uid!r}")
        return row

    async def create(
        self, user_id: Any = None, name: Any = None, tags: Any = None, metadata: Any = None
    ) -> User:
        scope = scoping.current_scope()
        uid = scoping.new_id() if user_id is None else scoping.entity_id(user_id, "id")
        scoping.checked(scope, scoping.USERS, uid)
        if not await self.store.insert_user(
            scope, uid, _name(name), _tags(tags), validation.metadata(metadata)
        ):
            raise Conflict(f"a user with id {uid!r} already exists; update it instead")
        return await self.get(uid)

    async def get(self, user_id: Any) -> User:
        return to_user(await self.row(scoping.current_scope(), user_id))

    async def update(self, user_id: Any, name: Any = None, tags: Any = None, metadata: Any = None) -> User:
        scope = scoping.current_scope()
        row = await self.row(scope, user_id)
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = _name(name)
        if tags is not None:
            fields["tags"] = _tags(tags)
        if metadata is not None:
            fields["metadata"] = validation.metadata(metadata)
        if fields and not await self.store.update_user(scope, row.id, fields):
            raise NotFound(f"no user with id {row.id!r}")
        return await self.get(row.id)

    async def list(
        self,
        names: Any = None,
        ids: Any = None,
        limit: Any = None,
        cursor: Any = None,
        *,
        maximum: int = 1000,
    ) -> UserList:
        scope = scoping.current_scope()
        name_list = None if names is None else _strings(names, "name")
        id_list = (
            None if ids is None else [scoping.entity_id(i, "id") for i in _strings(ids, "id", uuids=True)]
        )
        n = page_limit(limit, maximum, maximum)
        rows = await self.store.list_users(scope, name_list, id_list, rowid_cursor(cursor), n + 1)
        more = len(rows) > n
        rows = rows[:n]
        return UserList(users=[to_user(r) for r in rows], next_cursor=str(rows[-1].rowid) if more else None)


def _strings(value: Any, what: str, uuids: bool = False) -> list[Any]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or len(value) > 1000:
        raise InvalidInput(f"{what} must be a list of at most 1000 values")
    for v in value:
        if not isinstance(v, str):
            raise InvalidInput(f"{what} values must be strings")
    return list(value)
