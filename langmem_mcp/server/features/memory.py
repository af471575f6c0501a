"""The agent-facing memory tools and resources: manage_memory, search_memory, memory://…

Annotations are not postponed (no `from __future__ import annotations`): the SDK reads each
signature several times while registering, and would compile string annotations anew each time.
"""

from typing import Annotated, Any, Literal

from pydantic import Field

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import InvalidInput
from langmem_mcp.server.lifespan import ServerContext, services
from langmem_mcp.server.surface import (
    Ctx,
    Feature,
    Namespace,
    dump,
    int_param,
    paged,
    segment,
    tool_hints,
)
from langmem_mcp.service.models.memories import SearchResult, WriteResult

FEATURE = Feature("memory")

MANAGE_DESCRIPTION = """\
Create, correct, supersede or delete a persistent MEMORY that lasts across conversations.

Proactively call this tool when you:
1. learn a new fact about the user, a preference, or a decision ("I prefer tabs", "my sister is Ana");
2. receive an explicit request to remember something, or to change how you behave;
3. are working and want to record context that will matter later (project conventions, outcomes);
4. find that an existing memory is wrong or no longer true (pass its id from search_memory).

Write each memory as one self-contained statement that will make sense without this conversation.
Actions:
- create (no id): saves `content`. If the namespace already holds the same text (ignoring case,
  spacing and trailing punctuation), nothing is stored and the existing id comes back with
  action "exists". If it holds similar memories, the result lists them in `similar`
  ([{id, content, similarity}], best first): when one of them is an older version of the same fact,
  supersede it with the new text (or delete the new memory if it only repeats an existing one).
- update (id, content): a CORRECTION: the memory was wrong or badly worded. It keeps its id; the
  previous version stays in its history (memory://history/...).
- supersede (id, content): the WORLD CHANGED ("I moved from Boston to Denver"): a new memory holds
  the new fact, the old one stays as a record of what was true until now (valid_to, superseded_by)
  and drops out of searches. Returns {"action": "superseded", "id": NEW, "superseded": OLD}.
- delete (id): forgets the memory and its whole history; use it when the user asks you to forget.
`namespace` scopes memories (e.g. ["memories", "project-x"]); omit it to use the default."""

SEARCH_DESCRIPTION = """\
Search your long-term memories for information relevant to the current context.

Call it at the start of a task or conversation, and whenever the user refers to something from
before ("as I said", "my usual setup", names, past decisions) or when personal context would change
your answer. It matches both keywords (names, rare words) and meaning. Results come best first,
with ids you can pass to manage_memory to update, supersede or delete a memory.
Only memories that are true now are searched: superseded ones are left out unless
include_superseded is true, or unless `as_of` asks what was true at a past moment.
`created_after` / `created_before` limit results to when memories were stored (ISO dates or times).
`filter` matches metadata fields: {"kind": "fact"} or {"year": {"$gte": 2020}}
(operators $eq $ne $gt $gte $lt $lte $in $nin $exists). Use `offset` to page.
If the namespace holds no memories at all, `note` names the closest namespaces that do."""


@FEATURE.tool(
    "manage_memory",
    MANAGE_DESCRIPTION,
    tool_hints(
        "Save, correct, supersede or delete a memory", read_only=False, destructive=True, idempotent=False
    ),
)
async def manage_memory(
    ctx: Ctx,
    content: Annotated[str | None, Field(description="The memory text (create, update, supersede).")] = None,
    action: Literal["create", "update", "supersede", "delete"] = "create",
    id: Annotated[str | None, Field(description="The memory id (update, supersede, delete).")] = None,
    namespace: Namespace = None,
    metadata: Annotated[
        dict[str, Any] | None,
        Field(description='Optional fields to filter on later, e.g. {"kind": "preference"}.'),
    ] = None,
    importance: Annotated[float | None, Field(description="Optional, 0 to 1 (default 0.5).")] = None,
) -> WriteResult:
    memories = (await services(ctx)).memories
    if action == "create":
        if id is not None:
            raise InvalidInput(
                "do not pass an id to create; it is assigned for you (use action='update' or 'supersede')"
            )
        return await memories.create(content, namespace, metadata=metadata, importance=importance)
    if action == "update":
        if content is None and metadata is None and importance is None:
            raise InvalidInput("update needs the new content")
        return await memories.update(id, namespace, content=content, metadata=metadata, importance=importance)
    if action == "supersede":
        if content is None:
            raise InvalidInput(
                "supersede needs the content that is true now, and the id of the memory it replaces"
            )
        return await memories.supersede(id, namespace, content, metadata=metadata, importance=importance)
    if content is not None:
        raise InvalidInput("delete takes only an id; remove content")
    return await memories.delete(id, namespace)


@FEATURE.tool(
    "search_memory",
    SEARCH_DESCRIPTION,
    tool_hints("Search memories", read_only=True, destructive=False, idempotent=True),
)
async def search_memory(
    ctx: Ctx,
    query: Annotated[str, Field(description="What to look for, in natural language or keywords.")],
    limit: Annotated[int, Field(description="How many results (1-100).")] = 10,
    offset: Annotated[int, Field(description="Skip this many results, for paging.")] = 0,
    filter: Annotated[dict[str, Any] | None, Field(description="Metadata conditions.")] = None,
    namespace: Namespace = None,
    include_superseded: Annotated[
        bool, Field(description="Also search memories that were superseded (no longer true).")
    ] = False,
    as_of: Annotated[
        str | None,
        Field(
            description="Only memories that were true at this moment (valid_from <= as_of < valid_to), "
            "superseded since or not. An ISO 8601 date or date-time."
        ),
    ] = None,
    created_after: Annotated[
        str | None, Field(description="Only memories stored at or after this time (ISO 8601).")
    ] = None,
    created_before: Annotated[
        str | None, Field(description="Only memories stored before this time (ISO 8601).")
    ] = None,
) -> SearchResult:
    return await (await services(ctx)).memories.find(
        query,
        namespace,
        limit=limit,
        offset=offset,
        filter=filter,
        include_superseded=include_superseded,
        as_of=as_of,
        created_after=created_after,
        created_before=created_before,
    )


@FEATURE.resource(
    "memory://item/{namespace}/{id}",
    "memory",
    "One memory by namespace (segments joined by '/', percent-encoded) and id.",
)
async def read_memory(ctx: Ctx, namespace: str, id: str) -> str:
    memory = await (await services(ctx)).memories.get(id, namespaces.parse(namespace))
    return memory.model_dump_json(indent=2)


@FEATURE.resource(
    "memory://list/{namespace}{?cursor,limit}",
    "memories",
    "A page of the memories in one namespace, oldest first (default 50, at most 100). "
    "Follow next_cursor for the next page; there is no whole-store dump.",
)
async def list_memories(ctx: Ctx, namespace: str, cursor: str = "", limit: str = "50") -> str:
    page = await (await services(ctx)).memories.list(
        namespaces.parse(namespace), limit=int_param(limit, "limit"), cursor=cursor or None
    )
    return dump(paged(page, f"memory://list/{segment('/'.join(page.namespace))}", limit=limit))


@FEATURE.resource(
    "memory://history/{namespace}/{id}",
    "memory_history",
    "Every version of one memory, oldest first: {content, metadata, importance, valid_from, valid_to, "
    "changed_at, change: created|updated|superseded}; the last is the memory as it is now.",
)
async def memory_history(ctx: Ctx, namespace: str, id: str) -> str:
    history = await (await services(ctx)).memories.history(id, namespaces.parse(namespace))
    return dump(history)


@FEATURE.resource(
    "memory://namespaces{?cursor,limit}",
    "namespaces",
    "Every namespace you may use that holds memories, with its count and how many are current "
    "(not superseded), in order (default 50 per page, at most 100; follow next_uri).",
)
async def memory_namespaces(ctx: Ctx, cursor: str = "", limit: str = "50") -> str:
    page = await (await services(ctx)).memories.namespaces(cursor or None, int_param(limit, "limit"))
    return dump(paged(page, "memory://namespaces", limit=limit))


@FEATURE.resource("memory://stats", "stats", "Counts per namespace, the embedding model, the data directory.")
async def stats(served: ServerContext) -> str:
    result = await (await served.services()).memories.stats()
    return result.model_dump_json(indent=2)
