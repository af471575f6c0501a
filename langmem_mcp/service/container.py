"""Every service of one data dir, built in one place with explicit dependencies.

The MCP server builds one `Services` in its lifespan (once the host has its tool list: importing
the services would slow the handshake), the HTTP server's REST routes use the same object, and the
CLI opens one with `open_services`. A surface never constructs a service itself, so an MCP tool, a
REST route and a CLI command that do the same thing call the same function of the same object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from langmem_mcp.config import Settings
from langmem_mcp.service.capture import CaptureService
from langmem_mcp.service.formation import Formation, llm_missing
from langmem_mcp.service.functions import FunctionService
from langmem_mcp.service.llm import LLMService
from langmem_mcp.service.memories import MemoryService
from langmem_mcp.service.runtime import Runtime
from langmem_mcp.service.threads import ThreadService
from langmem_mcp.service.tokens import TokenService
from langmem_mcp.service.user_memory import UserMemoryService
from langmem_mcp.service.users import UserService
from langmem_mcp.store.functions import FunctionStore
from langmem_mcp.store.prompt_versions import PromptVersionStore
from langmem_mcp.store.threads import ThreadStore
from langmem_mcp.store.usage import UsageStore
from langmem_mcp.store.users import UserStore


@dataclass(frozen=True)
class Services:
    """The services a surface calls; `runtime` holds the database and the vector index they share."""

    settings: Settings
    runtime: Runtime
    memories: MemoryService
    users: UserService
    threads: ThreadService
    functions: FunctionService
    user_memory: UserMemoryService
    formation: Formation
    llm: LLMService
    tokens: TokenService
    capture: CaptureService

    @classmethod
    def build(cls, runtime: Runtime, tokens: TokenService | None = None) -> Services:
        """`tokens`: the token service the HTTP access layer already holds, if any."""
        settings, db = runtime.settings, runtime.db
        memories = MemoryService(
            settings,
            runtime.memories,
            runtime.vectors,
            runtime.index,
            runtime.schema_version,
            runtime.context,
        )
        user_store, thread_store, function_store = UserStore(db), ThreadStore(db), FunctionStore(db)
        users = UserService(user_store)
        threads = ThreadService(thread_store, settings.max_content_chars)
        functions = FunctionService(function_store, memories)
        formation = Formation(settings, thread_store, user_store, functions, function_store, memories)
        llm = LLMService(settings, memories, threads, UsageStore(db), PromptVersionStore(db), runtime.index)
        return cls(
            settings=settings,
            runtime=runtime,
            memories=memories,
            users=users,
            threads=threads,
            functions=functions,
            user_memory=UserMemoryService(
                users,
                thread_store,
                functions,
                function_store,
                memories,
                lambda: llm_missing(settings),
                settings.recency_half_life_days,
            ),
            formation=formation,
            llm=llm,
            tokens=tokens or TokenService(db),
            capture=CaptureService(settings, runtime.index, memories, threads, llm, formation),
        )

    async def start(self) -> None:
        """The background work of a serving process: formation, the template watcher, and the
        capture queue."""
        await self.llm.start()
        await self.formation.start()
        await self.capture.start()

    async def stop(self) -> None:
        await self.capture.stop()
        await self.formation.stop()
        await self.llm.stop()


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Services on a data dir for one command (the CLI, scripts, tests): no background work."""
    runtime = await Runtime.open(settings)
    try:
        yield Services.build(runtime)
    finally:
        await runtime.close()
