"""The process's open resources: the database now, the vector index soon after.

SQLite opens at start (it is cheap); the vector index loads after the MCP handshake
(`index.handle.IndexHandle`). Services are built on top of these (`service.container`).
"""

from __future__ import annotations

from langmem_mcp.config import Settings
from langmem_mcp.engine.context import ContextPolicy
from langmem_mcp.index.handle import IndexHandle
from langmem_mcp.store.memories import MemoryStore
from langmem_mcp.store.sqlite import SCHEMA_VERSION, Database
from langmem_mcp.store.vector_rows import VectorRows


class Runtime:
    """Holds what one process has open on a data dir, and closes it in order."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.index = IndexHandle(settings)
        self.context = ContextPolicy()
        self.memories = MemoryStore(db, self.context.reach)
        self.vectors = VectorRows(db)
        self.schema_version = SCHEMA_VERSION

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.db_path)
        return cls(settings, db)

    async def close(self) -> None:
        # The truth first: nothing the index is still doing can keep the database open.
        await self.db.close()
        await self.index.close()
