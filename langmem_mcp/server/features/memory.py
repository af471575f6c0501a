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
Create, update, or delete a persistent MEMORY that lasts across conversations.

Proactively call this tool when you:
1. learn a new fact about the user, a preference, or a decision ("I prefer tabs", "my sister is Ana");
2. receive an explicit request to remember something, or to change how you behave;
3. are working and want to record context that will matter later (project conventions, outcomes);
4. find that an existing memory is wrong or outdated: update it (or delete it) by its id.

Write each memory as one self-contained statement that will make sense without this conversation.
Omit `id` when creating; include the id (from search_memory) when updating or deleting.
Creating content that already exists verbatim returns the existing memory's id and changes nothing.
`namespace` scopes memories (e.g. ["memories", "project-x"]); omit it to use the default."""

SEARCH_DESCRIPTION = """\
Search your long-term memories for information relevant to the current context.

Call it at the start of a task or conversation, and whenever the user refers to something from
before ("as I said", "my usual setup", names, past decisions) or when personal context would change
your answer. It matches both keywords (names, rare words) and meaning. Results come best first,
with ids you can pass to manage_memory to update or delete an outdated memory.
`filter` matches metadata fields: {"kind": "fact"} or {"year": {"$gte": 2020}}
(operators $eq $ne $gt $gte $lt $lte $in $nin $exists). Use `offset` to page."""


@FEATURE.tool(
    "manage_memory",
    MANAGE_DESCRIPTION,
    tool_hints("Save, update or delete a memory", read_only=False, destructive=True, idempotent=False),
)
async def manage_memory(
    ctx: Ctx,
    content: Annotated[str | None, Field(description="The memory text (create and update).")] = None,
    action: Literal["create", "update", "delete"] = "create",
    id: Annotated[str | None, Field(description="The memory id (update and delete).")] = None,
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
            raise InvalidInput("do not pass an id to create; it is assigned for you (use action='update')")
        return await memories.create(content, namespace, metadata=metadata, importance=importance)
    if action == "update":
        if content is None and metadata is None and importance is None:
            raise InvalidInput("update needs the new content")
        return await memories.update(id, namespace, content=content, metadata=metadata, importance=importance)
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
) -> SearchResult:
    hits = await (await services(ctx)).memories.search(
        query, namespace, limit=limit, offset=offset, filter=filter
    )
    return SearchResult(memories=hits)


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


@FEATURE.resource("memory://stats", "stats", "Counts per namespace, the embedding model, the data directory.")
async def stats(served: ServerContext) -> str:
    result = await (await served.services()).memories.stats()
    return result.model_dump_json(indent=2)
