"""Memory functions: what forms from a thread's messages, and in what shape.

- `user_state`: one structured profile per user, following the function's JSON schema.
- `user_append_state`: append-only entries of the schema per user, searchable.
- `user_semantic_memory`: unstructured memories (facts) per user; one such function, the
  default, exists in every scope from the start.
- `thread_summary`: a summary per thread, following the schema.

Schemas arrive as the LangMem API sends them (`{"name", "description", "parameters": <JSON
schema>}`) or as a bare JSON schema (what pydantic's `model_json_schema()` gives); a schema that
is not valid JSON Schema is refused with the reason.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.service import scoping
from langmem_mcp.service.memories import MemoryService
from langmem_mcp.service.models.langmem import (
    FUNCTION_TYPES,
    THREAD_TYPES,
    USER_TYPES,
    Deleted,
    FunctionList,
    FunctionSchema,
    MemoryFunction,
)
from langmem_mcp.service.paging import page_limit, rowid_cursor
from langmem_mcp.store.functions import FunctionRow, FunctionStore

DEFAULT_NAMESPACE_UUID = uuid.UUID("7f6b3c1e-5a0d-4c55-9a43-2f3f0a6c9e11")
DEFAULT_NAME = "Semantic memory"
DEFAULT_DESCRIPTION = (
    "Facts, preferences and events about the user, in their own words or as distilled by a model."
)
DEFAULT_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "One memory about the user."}},
    "required": ["text"],
}
MAX_TEXT = 10_000
MAX_PAGE = 100


def default_function_id(scope: str) -> str:
    """The id of a scope's automatic semantic memory function: stable, derived from the scope."""
    return str(uuid.uuid5(DEFAULT_NAMESPACE_UUID, f"user_semantic_memory:{scope}"))


def to_function(row: FunctionRow) -> MemoryFunction:
    return MemoryFunction(
        id=row.id,
        name=row.name,
        description=row.description,
        type=row.type,
        custom_instructions=row.custom_instructions,
        schema_=FunctionSchema(name=row.name, description=row.description, parameters=row.parameters),
        status=row.status,
        default=row.is_default,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{what} is {len(value)} characters long; at most {MAX_TEXT}")
    return value


def function_type(value: Any) -> str:
    if value not in FUNCTION_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(FUNCTION_TYPES)}, not {str(value)[:40]!r}")
    return str(value)


def split_schema(schema: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """(name, description, JSON schema) from a LangMem function schema or a bare JSON schema."""
    if not isinstance(schema, dict):
        raise InvalidInput("schema must be a JSON object: a JSON schema or {name, description, parameters}")
    if "parameters" in schema and "properties" not in schema:
        params = schema["parameters"]
        if not isinstance(params, dict):
            raise InvalidInput("schema.parameters must be a JSON schema object")
        return (
            _text(schema.get("name"), "schema.name"),
            _text(schema.get("description"), "schema.description"),
            dict(params),
        )
    params = dict(schema)
    name = params.pop("title", None)
    description = params.get("description")
    return (
        name if isinstance(name, str) else None,
        description if isinstance(description, str) else None,
        params,
    )


def check_schema(params: dict[str, Any], kind: str) -> dict[str, Any]:
    """Refuse a schema that is not valid JSON Schema, or that cannot describe an object."""
    from jsonschema import exceptions
    from jsonschema.validators import validator_for

    try:
        cls = validator_for(params)
        cls.check_schema(params)
    except RecursionError as exc:
        raise InvalidInput("the schema is nested too deeply") from exc
    except exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InvalidInput(f"the schema is not a valid JSON schema at {where}: {exc.message}") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. a $schema that names no known draft
        raise InvalidInput(f"the schema cannot be used: {exc}") from exc
    if kind != "user_semantic_memory":
        declared = params.get("type")
        if declared not in (None, "object") or not (declared == "object" or "properties" in params):
            raise InvalidInput(
                f"a {kind} schema must describe an object (type 'object' with properties), "
                f"not {str(declared or 'an untyped value')[:40]}"
            )
    try:  # unresolvable $refs only show when validating
        list(cls(params).iter_errors({}))
    except Exception as exc:  # noqa: BLE001 - referencing errors have no common public base
        raise InvalidInput(f"the schema cannot be used: {exc}") from exc
    return params


def target_types(target_type: Any) -> list[str] | None:
    """`target_type` filter: exact types, or 'user' / 'thread' for every type of that target."""
    if target_type is None:
        return None
    values = [target_type] if isinstance(target_type, str) else target_type
    if not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise InvalidInput("target_type must be a type or a list of types")
    out: list[str] = []
    for v in values:
        if v == "user":
            out += USER_TYPES
        elif v == "thread":
            out += THREAD_TYPES
        else:
            out.append(function_type(v))
    return list(dict.fromkeys(out))


class FunctionService:
    """Memory functions of the caller's scope; deleting one forgets everything it formed."""

    def __init__(self, store: FunctionStore, memories: MemoryService) -> None:
        self.store = store
        self.memories = memories
        self._ensured: set[str] = set()

    async def ensure_default(self, scope: str) -> str:
        """Create the scope's semantic memory function on first use."""
        fid = default_function_id(scope)
        if scope not in self._ensured:
            await self.store.insert_function(
                scope,
                fid,
                "user_semantic_memory",
                DEFAULT_NAME,
                DEFAULT_DESCRIPTION,
                None,
                DEFAULT_PARAMETERS,
                is_default=True,
            )
            self._ensured.add(scope)
        return fid

    async def row(self, scope: str, function_id: Any) -> FunctionRow:
        fid = scoping.entity_id(function_id, "memory_function_id")
        scoping.checked(scope, scoping.FUNCTIONS, fid)
        await self.ensure_default(scope)
        row = await self.store.get_function(scope, fid)
        if row is None:
            raise NotFound(f"no memory function with id {fid!r}")
        return row

    async def create(
        self,
        schema: Any = None,
        type: Any = "user_state",
        name: Any = None,
        description: Any = None,
        custom_instructions: Any = None,
        function_id: Any = None,
    ) -> MemoryFunction:
        scope = scoping.current_scope()
        kind = function_type(type if type is not None else "user_state")
        fid = scoping.new_id() if function_id in (None, "") else scoping.entity_id(function_id, "id")
        scoping.checked(scope, scoping.FUNCTIONS, fid)
        if schema is None:
            if kind != "user_semantic_memory":
                raise InvalidInput(
                    f"a {kind} memory function needs a schema (a JSON schema of what it keeps)"
                )
            s_name, s_desc, params = None, None, dict(DEFAULT_PARAMETERS)
        else:
            s_name, s_desc, params = split_schema(schema)
        check_schema(params, kind)
        final_name = _text(name, "name") or s_name or kind
        final_desc = _text(description, "description") or s_desc or ""
        await self.ensure_default(scope)
        if not await self.store.insert_function(
            scope,
            fid,
            kind,
            final_name,
            final_desc,
            _text(custom_instructions, "custom_instructions"),
            params,
        ):
            raise Conflict(f"a memory function with id {fid!r} already exists")
        return await self.get(fid)

    async def get(self, function_id: Any) -> MemoryFunction:
        return to_function(await self.row(scoping.current_scope(), function_id))

    async def list(self, target_type: Any = None, cursor: Any = None, limit: Any = None) -> FunctionList:
        scope = scoping.current_scope()
        await self.ensure_default(scope)
        n = page_limit(limit, MAX_PAGE, MAX_PAGE)
        rows = await self.store.list_functions(scope, target_types(target_type), rowid_cursor(cursor), n + 1)
        more = len(rows) > n
        rows = rows[:n]
        return FunctionList(
            memory_functions=[to_function(r) for r in rows], next_cursor=str(rows[-1].rowid) if more else None
        )

    async def update(
        self,
        function_id: Any,
        *,
        name: Any = None,
        description: Any = None,
        custom_instructions: Any = None,
        type: Any = None,
        status: Any = None,
        schema: Any = None,
    ) -> MemoryFunction:
        scope = scoping.current_scope()
        row = await self.row(scope, function_id)
        fields: dict[str, Any] = {}
        kind = row.type
        if type is not None:
            kind = function_type(type)
            if row.is_default and kind != row.type:
                raise Conflict(
                    "the default semantic memory function keeps its type; create another function instead"
                )
            if (kind in USER_TYPES) != (row.type in USER_TYPES):
                raise InvalidInput(
                    f"a {row.type} function cannot become {kind}: one forms memory of users, the other of threads"
                )
            fields["type"] = kind
        if schema is not None:
            s_name, s_desc, params = split_schema(schema)
            fields["parameters"] = check_schema(params, kind)
            if name is None and s_name:
                fields["name"] = s_name
            if description is None and s_desc:
                fields["description"] = s_desc
        elif "type" in fields:
            check_schema(row.parameters, kind)
        if name is not None:
            fields["name"] = _text(name, "name")
        if description is not None:
            fields["description"] = _text(description, "description")
        if custom_instructions is not None:
            fields["custom_instructions"] = _text(custom_instructions, "custom_instructions")
        if status is not None:
            if status not in ("active", "disabled"):
                raise InvalidInput(f"status must be 'active' or 'disabled', not {str(status)[:40]!r}")
            fields["status"] = status
        if fields and not await self.store.update_function(scope, row.id, fields):
            raise NotFound(f"no memory function with id {row.id!r}")
        return await self.get(row.id)

    async def active(self, scope: str) -> builtins.list[FunctionRow]:
        await self.ensure_default(scope)
        return await self.store.active_functions(scope)

    async def delete(self, function_id: Any) -> Deleted:
        """Delete a memory function and everything it formed (states, entries, memories)."""
        scope = scoping.current_scope()
        fn = await self.row(scope, function_id)
        if fn.is_default:
            raise Conflict(
                "the default semantic memory function cannot be deleted; disable it (status 'disabled') instead"
            )
        if not await self.store.delete_function(scope, fn.id):
            raise NotFound(f"no memory function with id {fn.id!r}")
        prefix = scoping.key(scope, scoping.USERS) + namespaces.SEP
        n = 0
        for mid, ns in await self.store.function_memories(None, fn.id, namespace_prefix=prefix):
            try:
                await self.memories.delete(mid, namespaces.split(ns))
                n += 1
            except NotFound:
                pass
        return Deleted(id=fn.id, memories_deleted=n)
