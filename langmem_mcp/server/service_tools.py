"""MCP tools and resources of the LangMem service model (users, threads, memory functions).

Writes are a few tools; reads are `langmem://` resources, paged where they can grow. Every
tool and resource calls the same service functions as the REST API.

Annotations are not postponed (no `from __future__ import annotations`): the SDK reads each
signature several times while registering, and would compile string annotations anew each time.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from langmem_mcp.errors import InvalidInput, LangmemError
from langmem_mcp.server.state import AppState, tool_errors
from langmem_mcp.service.langmem import LangMemService, install
from langmem_mcp.service.service_models import (
    AddMessagesResult,
    FormationReport,
    MemoryFunction,
    MemoryState,
    QueryResult,
    ThreadState,
    User,
)

RESOURCE_PAGE = 50
RESOURCE_MAX = 100


class FunctionChange(BaseModel):
    action: Literal["created", "updated", "deleted"]
    id: str
    memory_function: MemoryFunction | None = None
    memories_deleted: int = 0


class UserMemoryChange(BaseModel):
    action: Literal["updated", "deleted"]
    user_id: str
    memory_function_id: str
    memory: MemoryState | None = None
    deleted: int = 0


ADD_MESSAGES = """\
Save conversation messages to a thread, so memory forms from them in the background.

Messages are OpenAI-style: {"role": "user"|"assistant"|..., "content": "...", "name"?: "...",
"metadata"?: {"user_id": "<who wrote it>", "timestamp": "<ISO 8601>"}}. Memories form for every
user_id that appears, once the thread has been quiet for a while (or at once with
trigger_formation). A message repeated with the same timestamp and content is stored once.
Omit thread_id to start a new thread; the thread is created if it does not exist."""

TRIGGER = """\
Form memory now from what is new in a thread (thread_id) or in all threads of a user (user_id),
instead of waiting for the thread to go quiet. Idempotent: messages already processed form
nothing again. Returns what each memory function did."""

QUERY = """\
Recall what is known about a user: memories ranked by relevance to `text`, recency and
importance (equal weights unless `weights` says otherwise, e.g. {"relevance": 1, "recency": 0,
"importance": 0}). Call it before answering a user whose past matters. memory_function_ids
limits which semantic/append memory functions to search (default: the user's unstructured
memories); states_to_return adds user_state profiles; thread_summaries adds the summaries of the
user's recent threads (thread_summaries_k per function)."""

MANAGE_USER = """\
Create a user (optionally with your own id, a name, tags and metadata) or update one. Users are
also created automatically when a message names their user_id."""

MANAGE_FUNCTION = """\
Create, update or delete a memory function: what memory forms from conversations.
Types: user_state (one structured profile per user, following `schema`), user_append_state
(append-only entries of `schema`, searchable), user_semantic_memory (unstructured facts; one
exists by default) and thread_summary (a summary per thread). `schema` is a JSON schema of an
object. Update can change name, description, custom_instructions, schema, type and status
("active" | "disabled": disabled functions form nothing new). Delete removes what it formed."""

MANAGE_USER_MEMORY = """\
Replace (action "update") or forget (action "delete") what one memory function holds for a
user: a user_state profile object, a list of user_append_state entries, or a list of semantic
memories (strings or {"text", "importance"})."""

SET_THREAD_STATE = """\
Store a JSON state for a thread (optionally under a key), e.g. where a conversation stands. Read
it back with the resource langmem://threads/{thread_id}/state?key=..."""

Ids = Annotated[list[str] | None, Field(description="Memory function ids.")]


def _dump(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="json", by_alias=True) if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, indent=2, ensure_ascii=False)


def _q(value: str) -> str:
    return quote(value, safe="")


def _int(value: str, name: str, default: int, maximum: int = RESOURCE_MAX) -> int:
    if value in ("", None):
        return default
    try:
        n = int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer, not {value[:20]!r}") from exc
    if not 1 <= n <= maximum:
        raise InvalidInput(f"{name} must be between 1 and {maximum}")
    return n


async def _read(fn: Callable[[], Awaitable[Any]]) -> str:
    try:
        return _dump(await fn())
    except LangmemError as exc:
        raise ResourceNotFoundError(str(exc)) from exc


def register(mcp: MCPServer, state: AppState) -> None:
    def svc() -> LangMemService:
        return install(state)

    install(state)  # background formation starts and stops with the server

    # -- tools -----------------------------------------------------------------------------------
    @mcp.tool(
        name="add_messages",
        description=ADD_MESSAGES,
        annotations=ToolAnnotations(
            title="Add messages to a thread",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def add_messages(
        messages: Annotated[list[dict[str, Any]], Field(description="The messages, oldest first.")],
        thread_id: Annotated[str | None, Field(description="The thread; omit to start a new one.")] = None,
        thread_metadata: Annotated[
            dict[str, Any] | None, Field(description="Metadata for a thread created by this call.")
        ] = None,
    ) -> AddMessagesResult:
        return await svc().threads.add_messages(thread_id, messages, thread_metadata)

    @mcp.tool(
        name="trigger_formation",
        description=TRIGGER,
        annotations=ToolAnnotations(
            title="Form memory now",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def trigger_formation(
        thread_id: Annotated[str | None, Field(description="Process this thread.")] = None,
        user_id: Annotated[str | None, Field(description="Process every thread of this user.")] = None,
    ) -> FormationReport:
        if (thread_id is None) == (user_id is None):
            raise InvalidInput("give exactly one of thread_id or user_id")
        if thread_id is not None:
            return await svc().formation.trigger_thread(thread_id)
        return await svc().formation.trigger_user(user_id)

    @mcp.tool(
        name="query_user_memory",
        description=QUERY,
        annotations=ToolAnnotations(
            title="Recall what is known about a user",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def query_user_memory(
        user_id: str,
        text: Annotated[str, Field(description="What to recall, e.g. the user's latest message.")],
        k: Annotated[int, Field(description="How many memories (1-1000).")] = 10,
        memory_function_ids: Ids = None,
        weights: Annotated[
            dict[str, float] | None, Field(description="relevance, recency, importance (default 1 each).")
        ] = None,
        states_to_return: Ids = None,
        thread_summaries: Ids = None,
        thread_summaries_k: Annotated[
            int | None, Field(description="Threads per summary function (default 5).")
        ] = None,
    ) -> QueryResult:
        return await svc().memory.query(
            user_id,
            text,
            k,
            memory_function_ids,
            weights,
            states_to_return,
            thread_summaries,
            thread_summaries_k,
        )

    @mcp.tool(
        name="manage_user",
        description=MANAGE_USER,
        annotations=ToolAnnotations(
            title="Create or update a user",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def manage_user(
        action: Literal["create", "update"] = "create",
        user_id: Annotated[str | None, Field(description="The user's id (optional when creating).")] = None,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> User:
        if action == "create":
            return await svc().users.create(user_id, name, tags, metadata)
        if user_id is None:
            raise InvalidInput("update needs the user_id")
        return await svc().users.update(user_id, name, tags, metadata)

    @mcp.tool(
        name="manage_memory_function",
        description=MANAGE_FUNCTION,
        annotations=ToolAnnotations(
            title="Create, update or delete a memory function",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def manage_memory_function(
        action: Literal["create", "update", "delete"] = "create",
        id: Annotated[
            str | None, Field(description="The function's id (update, delete; optional for create).")
        ] = None,
        type: Literal["user_state", "user_append_state", "user_semantic_memory", "thread_summary"]
        | None = None,
        schema: Annotated[
            dict[str, Any] | None,
            Field(description="JSON schema of an object, or {name, description, parameters: <JSON schema>}."),
        ] = None,
        name: str | None = None,
        description: str | None = None,
        custom_instructions: str | None = None,
        status: Literal["active", "disabled"] | None = None,
    ) -> FunctionChange:
        s = svc()
        if action == "create":
            if status is not None:
                raise InvalidInput("a new memory function is active; update its status afterwards")
            fn = await s.functions.create(
                schema, type or "user_state", name, description, custom_instructions, id
            )
            return FunctionChange(action="created", id=fn.id, memory_function=fn)
        if id is None:
            raise InvalidInput(f"{action} needs the memory function's id")
        if action == "update":
            fn = await s.functions.update(
                id,
                name=name,
                description=description,
                custom_instructions=custom_instructions,
                type=type,
                status=status,
                schema=schema,
            )
            return FunctionChange(action="updated", id=fn.id, memory_function=fn)
        gone = await s.delete_function(id)
        return FunctionChange(action="deleted", id=gone.id, memories_deleted=gone.memories_deleted)

    @mcp.tool(
        name="manage_user_memory",
        description=MANAGE_USER_MEMORY,
        annotations=ToolAnnotations(
            title="Replace or forget a user's memory",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def manage_user_memory(
        user_id: str,
        memory_function_id: str,
        action: Literal["update", "delete"] = "update",
        state: Annotated[Any, Field(description="The new state (update).")] = None,
    ) -> UserMemoryChange:
        s = svc()
        if action == "update":
            if state is None:
                raise InvalidInput("update needs the new state")
            memory = await s.memory.update_user_memory(user_id, memory_function_id, state)
            return UserMemoryChange(
                action="updated",
                user_id=memory.user_id or user_id,
                memory_function_id=memory.memory_function_id,
                memory=memory,
            )
        gone = await s.memory.delete_user_memory(user_id, memory_function_id)
        return UserMemoryChange(
            action="deleted",
            user_id=gone["user_id"],
            memory_function_id=gone["memory_function_id"],
            deleted=gone["deleted"],
        )

    @mcp.tool(
        name="set_thread_state",
        description=SET_THREAD_STATE,
        annotations=ToolAnnotations(
            title="Store a thread's state",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def set_thread_state(
        thread_id: str,
        state: Annotated[dict[str, Any], Field(description="The state (a JSON object).")],
        key: Annotated[str | None, Field(description="Keep several states per thread by key.")] = None,
    ) -> ThreadState:
        return await svc().threads.set_state(thread_id, state, key)

    # -- resources --------------------------------------------------------------------------------
    @mcp.resource(
        "langmem://users{?cursor,limit}",
        name="users",
        description="A page of users (50 by default, at most 100), with next_uri for the next page.",
        mime_type="application/json",
    )
    async def users(cursor: str = "", limit: str = "") -> str:
        async def read() -> Any:
            n = _int(limit, "limit", RESOURCE_PAGE)
            page = await svc().users.list(limit=n, cursor=cursor or None, maximum=RESOURCE_MAX)
            body = page.model_dump(mode="json")
            if page.next_cursor:
                body["next_uri"] = f"langmem://users?cursor={page.next_cursor}&limit={n}"
            return body

        return await _read(read)

    @mcp.resource(
        "langmem://users/{user_id}", name="user", description="One user.", mime_type="application/json"
    )
    async def user(user_id: str) -> str:
        return await _read(lambda: svc().users.get(user_id))

    @mcp.resource(
        "langmem://users/{user_id}/memory",
        name="user_memory",
        description="What every user memory function holds for a user (profiles, entries, recent memories).",
        mime_type="application/json",
    )
    async def user_memory(user_id: str) -> str:
        return await _read(lambda: svc().memory.list_user_memory(user_id))

    @mcp.resource(
        "langmem://users/{user_id}/memory/{memory_function_id}",
        name="user_memory_state",
        description="What one memory function holds for a user.",
        mime_type="application/json",
    )
    async def user_memory_state(user_id: str, memory_function_id: str) -> str:
        return await _read(lambda: svc().memory.get_user_memory(user_id, memory_function_id))

    @mcp.resource(
        "langmem://threads{?cursor,limit}",
        name="threads",
        description="A page of threads, newest first (50 by default, at most 100), with next_uri.",
        mime_type="application/json",
    )
    async def threads(cursor: str = "", limit: str = "") -> str:
        async def read() -> Any:
            n = _int(limit, "limit", RESOURCE_PAGE)
            page = await svc().threads.list(limit=n, cursor=cursor or None, maximum=RESOURCE_MAX)
            body = page.model_dump(mode="json")
            if page.next_cursor:
                body["next_uri"] = f"langmem://threads?cursor={page.next_cursor}&limit={n}"
            return body

        return await _read(read)

    @mcp.resource(
        "langmem://threads/{thread_id}",
        name="thread",
        description="One thread.",
        mime_type="application/json",
    )
    async def thread(thread_id: str) -> str:
        return await _read(lambda: svc().threads.get(thread_id))

    @mcp.resource(
        "langmem://threads/{thread_id}/messages{?cursor,page_size,ascending_order,response_format}",
        name="thread_messages",
        description=(
            "A page of a thread's messages in conversation order (ascending_order=false: newest first; "
            "50 by default, at most 100; response_format openai or langmem), with next_uri."
        ),
        mime_type="application/json",
    )
    async def thread_messages(
        thread_id: str,
        cursor: str = "",
        page_size: str = "",
        ascending_order: str = "",
        response_format: str = "",
    ) -> str:
        async def read() -> Any:
            n = _int(page_size, "page_size", RESOURCE_PAGE)
            asc = None
            if ascending_order:
                if ascending_order.lower() not in ("true", "false"):
                    raise InvalidInput("ascending_order must be true or false")
                asc = ascending_order.lower() == "true"
            page = await svc().threads.list_messages(
                thread_id, response_format or None, asc, n, cursor or None
            )
            body = page.model_dump(mode="json")
            if page.next_cursor:
                extra = "".join(
                    f"&{k}={_q(v)}"
                    for k, v in (("ascending_order", ascending_order), ("response_format", response_format))
                    if v
                )
                body["next_uri"] = (
                    f"langmem://threads/{_q(thread_id)}/messages?cursor={page.next_cursor}&page_size={n}{extra}"
                )
            return body

        return await _read(read)

    @mcp.resource(
        "langmem://threads/{thread_id}/memory",
        name="thread_memory",
        description="What every thread memory function (thread_summary) holds for a thread.",
        mime_type="application/json",
    )
    async def thread_memory(thread_id: str) -> str:
        return await _read(lambda: svc().memory.list_thread_memory(thread_id))

    @mcp.resource(
        "langmem://threads/{thread_id}/memory/{memory_function_id}",
        name="thread_memory_state",
        description="What one thread memory function holds for a thread.",
        mime_type="application/json",
    )
    async def thread_memory_state(thread_id: str, memory_function_id: str) -> str:
        return await _read(lambda: svc().memory.get_thread_memory(thread_id, memory_function_id))

    @mcp.resource(
        "langmem://threads/{thread_id}/state{?key}",
        name="thread_state",
        description="The state stored for a thread (under `key`, or without one); state is null if none.",
        mime_type="application/json",
    )
    async def thread_state(thread_id: str, key: str = "") -> str:
        return await _read(lambda: svc().threads.get_state(thread_id, key or None))

    @mcp.resource(
        "langmem://memory-functions{?target_type,cursor}",
        name="memory_functions",
        description=(
            "The memory functions (target_type: a type, or user / thread for all of that target), "
            "100 per page with next_uri."
        ),
        mime_type="application/json",
    )
    async def memory_functions(target_type: str = "", cursor: str = "") -> str:
        async def read() -> Any:
            types = [t for t in target_type.split(",") if t] or None
            page = await svc().functions.list(types, cursor or None)
            body = page.model_dump(mode="json", by_alias=True)
            if page.next_cursor:
                tt = f"&target_type={_q(target_type)}" if target_type else ""
                body["next_uri"] = f"langmem://memory-functions?cursor={page.next_cursor}{tt}"
            return body

        return await _read(read)

    @mcp.resource(
        "langmem://memory-functions/{memory_function_id}",
        name="memory_function",
        description="One memory function.",
        mime_type="application/json",
    )
    async def memory_function(memory_function_id: str) -> str:
        return await _read(lambda: svc().functions.get(memory_function_id))
