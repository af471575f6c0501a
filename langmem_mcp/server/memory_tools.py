"""The agent-facing memory tools and resources: manage_memory, search_memory, memory://…

Annotations are not postponed (no `from __future__ import annotations`): the SDK reads each
signature several times while registering, and would compile string annotations anew each time.
"""

from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import ToolAnnotations
from pydantic import Field

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import InvalidInput, LangmemError, NotFound
from langmem_mcp.server.state import AppState, tool_errors
from langmem_mcp.service.models import MemoryPage, SearchResult, Stats, WriteResult

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

Namespace = Annotated[
    list[str] | None,
    Field(description='Namespace segments, e.g. ["memories", "project-x"]. Omit for the default.'),
]


def register(mcp: MCPServer, state: AppState) -> None:
    @mcp.tool(
        name="manage_memory",
        description=MANAGE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Save, update or delete a memory",
            destructive_hint=True,
            read_only_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def manage_memory(
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
        svc = state.memories
        if action == "create":
            if id is not None:
                raise InvalidInput(
                    "do not pass an id to create; it is assigned for you (use action='update')"
                )
            return await svc.create(content, namespace, metadata=metadata, importance=importance)
        if action == "update":
            if content is None and metadata is None and importance is None:
                raise InvalidInput("update needs the new content")
            return await svc.update(id, namespace, content=content, metadata=metadata, importance=importance)
        if content is not None:
            raise InvalidInput("delete takes only an id; remove content")
        return await svc.delete(id, namespace)

    @mcp.tool(
        name="search_memory",
        description=SEARCH_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Search memories",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def search_memory(
        query: Annotated[str, Field(description="What to look for, in natural language or keywords.")],
        limit: Annotated[int, Field(description="How many results (1-100).")] = 10,
        offset: Annotated[int, Field(description="Skip this many results, for paging.")] = 0,
        filter: Annotated[dict[str, Any] | None, Field(description="Metadata conditions.")] = None,
        namespace: Namespace = None,
    ) -> SearchResult:
        hits = await state.memories.search(query, namespace, limit=limit, offset=offset, filter=filter)
        return SearchResult(memories=hits)

    @mcp.resource(
        "memory://item/{namespace}/{id}",
        name="memory",
        description="One memory by namespace (segments joined by '/', percent-encoded) and id.",
        mime_type="application/json",
    )
    async def read_memory(namespace: str, id: str) -> str:
        try:
            memory = await state.memories.get(id, namespaces.parse(namespace))
        except NotFound as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except LangmemError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return memory.model_dump_json(indent=2)

    @mcp.resource(
        "memory://list/{namespace}{?cursor,limit}",
        name="memories",
        description=(
            "A page of the memories in one namespace, oldest first (default 50, at most 100). "
            "Follow next_cursor for the next page; there is no whole-store dump."
        ),
        mime_type="application/json",
    )
    async def list_memories(namespace: str, cursor: str = "", limit: str = "50") -> str:
        try:
            page: MemoryPage = await state.memories.list(
                namespaces.parse(namespace), limit=_int(limit, "limit"), cursor=cursor or None
            )
        except LangmemError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        body = page.model_dump()
        if page.next_cursor:
            body["next_uri"] = (
                f"memory://list/{quote('/'.join(page.namespace), safe='')}?cursor={page.next_cursor}&limit={limit}"
            )
        return _json(body)

    @mcp.resource(
        "memory://stats",
        name="stats",
        description="Counts per namespace, the embedding model, the data directory.",
        mime_type="application/json",
    )
    async def stats() -> str:
        result: Stats = await state.memories.stats()
        return result.model_dump_json(indent=2)


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer, not {value[:20]!r}") from exc


def _json(body: Any) -> str:
    import json

    return json.dumps(body, indent=2, ensure_ascii=False)
