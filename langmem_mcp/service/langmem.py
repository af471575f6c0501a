"""The LangMem service model behind both doors (MCP tools/resources and the LangMem REST API).

`service(state)` gives the one instance a server holds; `install(state)` ties its background
formation to the server (idempotent, so the MCP server and the REST routes may both ask).
Every operation works in the caller's scope (see `service.scoping`).

The parts import on first use: the MCP server registers its tools with this module loaded and
answers the host's `tools/list` without them (formation starts once the host has its list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import Conflict, NotFound
from langmem_mcp.service import scoping
from langmem_mcp.service.service_models import Deleted

if TYPE_CHECKING:
    from langmem_mcp.server.state import AppState
    from langmem_mcp.service.formation import Formation
    from langmem_mcp.service.functions import FunctionService
    from langmem_mcp.service.memories import MemoryService
    from langmem_mcp.service.runtime import Runtime
    from langmem_mcp.service.threads import ThreadService
    from langmem_mcp.service.user_memory import UserMemoryService
    from langmem_mcp.service.users import UserService
    from langmem_mcp.store.entities import EntityStore

SERVICE_KEY = "langmem"


class LangMemService:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.settings = state.settings
        self._formation: Formation | None = None
        self._store: tuple[Runtime, EntityStore, FunctionService] | None = None

    @property
    def rt(self) -> Runtime:
        return self.state.rt

    @property
    def formation(self) -> Formation:
        if self._formation is None:
            from langmem_mcp.service.formation import Formation

            self._formation = Formation(self)
        return self._formation

    async def stop_formation(self) -> None:
        if self._formation is not None:
            await self._formation.stop()

    def _parts(self) -> tuple[EntityStore, FunctionService]:
        rt = self.rt
        if self._store is None or self._store[0] is not rt:  # a new runtime (a restart in-process)
            from langmem_mcp.service.functions import FunctionService
            from langmem_mcp.store.entities import EntityStore

            store = EntityStore(rt.db)
            self._store = (rt, store, FunctionService(store))
        return self._store[1], self._store[2]

    @property
    def store(self) -> EntityStore:
        return self._parts()[0]

    @property
    def functions(self) -> FunctionService:
        return self._parts()[1]

    @property
    def users(self) -> UserService:
        from langmem_mcp.service.users import UserService

        return UserService(self.store)

    @property
    def threads(self) -> ThreadService:
        from langmem_mcp.service.threads import ThreadService

        return ThreadService(self.store, self.settings.max_content_chars)

    @property
    def memories(self) -> MemoryService:
        from langmem_mcp.service.memories import MemoryService

        return MemoryService(self.rt)

    @property
    def memory(self) -> UserMemoryService:
        from langmem_mcp.service.formation import llm_missing
        from langmem_mcp.service.user_memory import UserMemoryService

        return UserMemoryService(
            self.store,
            self.functions,
            self.memories,
            lambda: llm_missing(self.settings),
            self.settings.recency_half_life_days,
        )

    async def delete_function(self, function_id: Any) -> Deleted:
        """Delete a memory function and everything it formed (states, entries, memories)."""
        scope = scoping.current_scope()
        fn = await self.functions.row(scope, function_id)
        if fn.is_default:
            raise Conflict(
                "the default semantic memory function cannot be deleted; disable it (status 'disabled') instead"
            )
        if not await self.store.delete_function(scope, fn.id):
            raise NotFound(f"no memory function with id {fn.id!r}")
        prefix = scoping.key(scope, scoping.USERS) + namespaces.SEP
        memories = self.memories
        n = 0
        for mid, ns in await self.store.function_memories(None, fn.id, namespace_prefix=prefix):
            try:
                await memories.delete(mid, namespaces.split(ns))
                n += 1
            except NotFound:
                pass
        return Deleted(id=fn.id, memories_deleted=n)


def service(state: AppState) -> LangMemService:
    svc = state.services.get(SERVICE_KEY)
    if svc is None:
        svc = LangMemService(state)
        state.services[SERVICE_KEY] = svc
    return svc  # type: ignore[return-value]


def install(state: AppState) -> LangMemService:
    """Start background formation once the server is ready and stop it before the runtime closes."""
    svc = service(state)
    if not state.services.get(SERVICE_KEY + ".installed"):
        state.services[SERVICE_KEY + ".installed"] = True

        async def start(_: AppState) -> None:
            await svc.formation.start()

        async def stop(_: AppState) -> None:
            await svc.stop_formation()

        state.on_ready.append(start)
        state.on_stop.append(stop)
    return svc
