"""The caller's optimized prompts as stored: their names and latest texts, in the caller's scope.

Apart from service/llm.py so the MCP surface can offer them as prompts before the handshake
without loading the LLM procedures; LLMService reads them through here too.
"""

from __future__ import annotations

from langmem_mcp.service import access
from langmem_mcp.store.prompt_versions import PromptVersionStore


def scope() -> str:
    return access.current().prefix or ""


async def names(versions: PromptVersionStore, every_scope: bool = False) -> list[tuple[str, int]]:
    """The caller's named optimized prompts (or every scope's, to offer them as MCP prompts)."""
    return await versions.names(None if every_scope else scope())


async def latest(versions: PromptVersionStore, name: str) -> str | None:
    """The latest text of the caller's prompt `name`, or None (none, or another scope's)."""
    found = await versions.latest(scope(), name)
    return None if found is None else found.prompt
