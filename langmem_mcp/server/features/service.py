"""MCP tools and resources of the LangMem service model (users, threads, memory functions).

Writes are a few tools; reads are `langmem://` resources, paged where they can grow. Every tool
and resource calls the same service functions as the REST API.

Annotations are not postponed (no `from __future__ import annotations`): the SDK reads each
signature several times while registering, and would compile string annotations anew each time.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from langmem_mcp.errors import InvalidInput
from langmem_mcp.server.lifespan import services
from langmem_mcp.server.surface import (
    RESOURCE_MAX,
    RESOURCE_PAGE,
    Ctx,
    Feature,
    dump,
    int_param,
    paged,
    segment,
    tool_hints,
)
from langmem_mcp.service import inputs
from langmem_mcp.service.models.langmem import (
    AddMessagesResult,
    FormationReport,
    MemoryFunction,
    MemoryState,
    QueryResult,
    ThreadState,
    User,
)

FEATURE = Feature("service")


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


# -- tools -----------------------------------------------------------------------------------------
@FEATURE.tool(
    "add_messages",
    ADD_MESSAGES,
    tool_hints("Add messages to a thread", read_only=False, destructive=False, idempotent=True),
)
async def add_messages(
    ctx: Ctx,
    messages: Annotated[list[dict[str, Any]], Field(description="The messages, oldest first.")],
    thread_id: Annotated[str | None, Field(description="The thread; omit to start a new one.")] = None,
    thread_metadata: Annotated[
        dict[str, Any] | None, Field(description="Metadata for a thread created by this call.")
    ] = None,
) -> AddMessagesResult:
    return await (await services(ctx)).threads.add_messages(
        thread_id, inputs.messages(messages), thread_metadata
    )


@FEATURE.tool(
    "trigger_formation",
    TRIGGER,
    tool_hints("Form memory now", read_only=False, destructive=False, idempotent=True),
)
async def trigger_formation(
    ctx: Ctx,
    thread_id: Annotated[str | None, Field(description="Process this thread.")] = None,
    user_id: Annotated[str | None, Field(description="Process every thread of this user.")] = None,
) -> FormationReport:
    if (thread_id is None) == (user_id is None):
        raise InvalidInput("give exactly one of thread_id or user_id")
    formation = (await services(ctx)).formation
    if thread_id is not None:
        return await formation.trigger_thread(thread_id)
    return await formation.trigger_user(user_id)


@FEATURE.tool(
    "query_user_memory",
    QUERY,
    tool_hints("Recall what is known about a user", read_only=True, destructive=False, idempotent=True),
)
async def query_user_memory(
    ctx: Ctx,
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
    include_superseded: Annotated[
        bool, Field(description="Also rank memories that were superseded (no longer true).")
    ] = False,
) -> QueryResult:
    query = inputs.parse(
        inputs.UserMemoryQuery,
        {
            "text": text,
            "k": k,
            "memory_function_ids": memory_function_ids,
            "weights": weights,
            "states_to_return": states_to_return,
            "thread_summaries": thread_summaries,
            "thread_summaries_k": thread_summaries_k,
            "include_superseded": include_superseded,
        },
    )
    return await (await services(ctx)).user_memory.query(user_id, query)


@FEATURE.tool(
    "manage_user",
    MANAGE_USER,
    tool_hints("Create or update a user", read_only=False, destructive=False, idempotent=False),
)
async def manage_user(
    ctx: Ctx,
    action: Literal["create", "update"] = "create",
    user_id: Annotated[str | None, Field(description="The user's id (optional when creating).")] = None,
    name: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> User:
    users = (await services(ctx)).users
    if action == "create":
        return await users.create(user_id, name, tags, metadata)
    if user_id is None:
        raise InvalidInput("update needs the user_id")
    return await users.update(user_id, name, tags, metadata)


@FEATURE.tool(
    "manage_memory_function",
    MANAGE_FUNCTION,
    tool_hints(
        "Create, update or delete a memory function", read_only=False, destructive=True, idempotent=False
    ),
)
async def manage_memory_function(
    ctx: Ctx,
    action: Literal["create", "update", "delete"] = "create",
    id: Annotated[
        str | None, Field(description="The function's id (update, delete; optional for create).")
    ] = None,
    type: Literal["user_state", "user_append_state", "user_semantic_memory", "thread_summary"] | None = None,
    schema: Annotated[
        dict[str, Any] | None,
        Field(description="JSON schema of an object, or {name, description, parameters: <JSON schema>}."),
    ] = None,
    name: str | None = None,
    description: str | None = None,
    custom_instructions: str | None = None,
    status: Literal["active", "disabled"] | None = None,
) -> FunctionChange:
    functions = (await services(ctx)).functions
    if action == "create":
        if status is not None:
            raise InvalidInput("a new memory function is active; update its status afterwards")
        fn = await functions.create(schema, type or "user_state", name, description, custom_instructions, id)
        return FunctionChange(action="created", id=fn.id, memory_function=fn)
    if id is None:
        raise InvalidInput(f"{action} needs the memory function's id")
    if action == "update":
        fn = await functions.update(
            id,
            name=name,
            description=description,
            custom_instructions=custom_instructions,
            type=type,
            status=status,
            schema=schema,
        )
        return FunctionChange(action="updated", id=fn.id, memory_function=fn)
    gone = await functions.delete(id)
    return FunctionChange(action="deleted", id=gone.id, memories_deleted=gone.memories_deleted)


@FEATURE.tool(
    "manage_user_memory",
    MANAGE_USER_MEMORY,
    tool_hints("Replace or forget a user's memory", read_only=False, destructive=True, idempotent=True),
)
async def manage_user_memory(
    ctx: Ctx,
    user_id: str,
    memory_function_id: str,
    action: Literal["update", "delete"] = "update",
    state: Annotated[Any, Field(description="The new state (update).")] = None,
) -> UserMemoryChange:
    user_memory = (await services(ctx)).user_memory
    if action == "update":
        if state is None:
            raise InvalidInput("update needs the new state")
        memory = await user_memory.update_user_memory(user_id, memory_function_id, state)
        return UserMemoryChange(
            action="updated",
            user_id=memory.user_id or user_id,
            memory_function_id=memory.memory_function_id,
            memory=memory,
        )
    gone = await user_memory.delete_user_memory(user_id, memory_function_id)
    return UserMemoryChange(
        action="deleted",
        user_id=gone["user_id"],
        memory_function_id=gone["memory_function_id"],
        deleted=gone["deleted"],
    )


@FEATURE.tool(
    "set_thread_state",
    SET_THREAD_STATE,
    tool_hints("Store a thread's state", read_only=False, destructive=False, idempotent=True),
)
async def set_thread_state(
    ctx: Ctx,
    thread_id: str,
    state: Annotated[dict[str, Any], Field(description="The state (a JSON object).")],
    key: Annotated[str | None, Field(description="Keep several states per thread by key.")] = None,
) -> ThreadState:
    return await (await services(ctx)).threads.set_state(thread_id, state, key)


# -- resources -------------------------------------------------------------------------------------
@FEATURE.resource(
    "langmem://users{?cursor,limit}",
    "users",
    "A page of users (50 by default, at most 100), with next_uri for the next page.",
)
async def users(ctx: Ctx, cursor: str = "", limit: str = "") -> str:
    n = int_param(limit, "limit", RESOURCE_PAGE, RESOURCE_MAX)
    page = await (await services(ctx)).users.list(limit=n, cursor=cursor or None, maximum=RESOURCE_MAX)
    return dump(paged(page, "langmem://users", limit=n))


@FEATURE.resource("langmem://users/{user_id}", "user", "One user.")
async def user(ctx: Ctx, user_id: str) -> str:
    return dump(await (await services(ctx)).users.get(user_id))


@FEATURE.resource(
    "langmem://users/{user_id}/memory",
    "user_memory",
    "What every user memory function holds for a user (profiles, entries, recent memories).",
)
async def user_memory(ctx: Ctx, user_id: str) -> str:
    return dump(await (await services(ctx)).user_memory.list_user_memory(user_id))


@FEATURE.resource(
    "langmem://users/{user_id}/memory/{memory_function_id}",
    "user_memory_state",
    "What one memory function holds for a user.",
)
async def user_memory_state(ctx: Ctx, user_id: str, memory_function_id: str) -> str:
    return dump(await (await services(ctx)).user_memory.get_user_memory(user_id, memory_function_id))


@FEATURE.resource(
    "langmem://threads{?cursor,limit}",
    "threads",
    "A page of threads, newest first (50 by default, at most 100), with next_uri.",
)
async def threads(ctx: Ctx, cursor: str = "", limit: str = "") -> str:
    n = int_param(limit, "limit", RESOURCE_PAGE, RESOURCE_MAX)
    page = await (await services(ctx)).threads.list(limit=n, cursor=cursor or None, maximum=RESOURCE_MAX)
    return dump(paged(page, "langmem://threads", limit=n))


@FEATURE.resource("langmem://threads/{thread_id}", "thread", "One thread.")
async def thread(ctx: Ctx, thread_id: str) -> str:
    return dump(await (await services(ctx)).threads.get(thread_id))


@FEATURE.resource(
    "langmem://threads/{thread_id}/messages{?cursor,page_size,ascending_order,response_format}",
    "thread_messages",
    "A page of a thread's messages in conversation order (ascending_order=false: newest first; "
    "50 by default, at most 100; response_format openai or langmem), with next_uri.",
)
async def thread_messages(
    ctx: Ctx,
    thread_id: str,
    cursor: str = "",
    page_size: str = "",
    ascending_order: str = "",
    response_format: str = "",
) -> str:
    n = int_param(page_size, "page_size", RESOURCE_PAGE, RESOURCE_MAX)
    asc = None
    if ascending_order:
        if ascending_order.lower() not in ("true", "false"):
            raise InvalidInput("ascending_order must be true or false")
        asc = ascending_order.lower() == "true"
    page = await (await services(ctx)).threads.list_messages(
        thread_id, response_format or None, asc, n, cursor or None
    )
    return dump(
        paged(
            page,
            f"langmem://threads/{segment(thread_id)}/messages",
            page_size=n,
            ascending_order=ascending_order,
            response_format=response_format,
        )
    )


@FEATURE.resource(
    "langmem://threads/{thread_id}/memory",
    "thread_memory",
    "What every thread memory function (thread_summary) holds for a thread.",
)
async def thread_memory(ctx: Ctx, thread_id: str) -> str:
    return dump(await (await services(ctx)).user_memory.list_thread_memory(thread_id))


@FEATURE.resource(
    "langmem://threads/{thread_id}/memory/{memory_function_id}",
    "thread_memory_state",
    "What one thread memory function holds for a thread.",
)
async def thread_memory_state(ctx: Ctx, thread_id: str, memory_function_id: str) -> str:
    return dump(await (await services(ctx)).user_memory.get_thread_memory(thread_id, memory_function_id))


@FEATURE.resource(
    "langmem://threads/{thread_id}/state{?key}",
    "thread_state",
    "The state stored for a thread (under `key`, or without one); state is null if none.",
)
async def thread_state(ctx: Ctx, thread_id: str, key: str = "") -> str:
    return dump(await (await services(ctx)).threads.get_state(thread_id, key or None))


@FEATURE.resource(
    "langmem://memory-functions{?target_type,cursor}",
    "memory_functions",
    "The memory functions (target_type: a type, or user / thread for all of that target), 100 per page with next_uri.",
)
async def memory_functions(ctx: Ctx, target_type: str = "", cursor: str = "") -> str:
    types = [t for t in target_type.split(",") if t] or None
    page = await (await services(ctx)).functions.list(types, cursor or None)
    return dump(paged(page, "langmem://memory-functions", target_type=target_type))


@FEATURE.resource(
    "langmem://memory-functions/{memory_function_id}", "memory_function", "One memory function."
)
async def memory_function(ctx: Ctx, memory_function_id: str) -> str:
    return dump(await (await services(ctx)).functions.get(memory_function_id))
