"""Live updates: a page asks every second or so whether what it shows has changed.

`GET /ui/changes?ns=…[&id=…]` answers `{"version": "…"}` for a namespace's memories, one memory,
or (no ns) the namespace tree; the page's script re-fetches itself and swaps in its live regions
when the value moves. Writes by any process on the data dir count (the MCP server of a desktop
host, a Claude Code hook, this server's own MCP and REST clients): the store's change marker
moves with every commit, and only then is the version itself read again, so an idle page costs
two tiny queries a poll.
"""

from __future__ import annotations

import hashlib

from starlette.responses import JSONResponse, Response

from langmem_mcp.errors import NotFound
from langmem_mcp.server.ui import forms
from langmem_mcp.server.ui.endpoint import Page

#: Versions remembered across polls, per (caller, what); beyond this the oldest are dropped.
MAX_REMEMBERED = 2000


async def changes(page: Page) -> Response:
    return _answer(await current(page, page.param("ns"), page.param("id")))


async def current(page: Page, ns_text: str, memory_id: str = "") -> str:
    """The version of what a page shows: a namespace's memories (`ns_text`), one memory (and
    `memory_id`), or the namespace tree (neither). Pages render it; their script polls it."""
    memories = (await page.services()).memories
    marker = await memories.change_marker()
    key = (page.principal.prefix, f"{ns_text}\n{memory_id}")
    known = page.ui.versions.get(key)
    if known is not None and known[0] == marker:
        return known[1]
    if ns_text:
        ns = forms.namespace(ns_text)
        if memory_id:
            try:
                version = (await memories.get(memory_id, ns)).updated_at
            except NotFound:
                version = "gone"
        else:
            version = await memories.version(ns)
    else:
        stats = await memories.stats()
        listing = "\n".join(f"{'/'.join(s.namespace)}\t{s.count}" for s in stats.namespaces)
        version = hashlib.sha256(listing.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    if len(page.ui.versions) >= MAX_REMEMBERED:
        page.ui.versions.pop(next(iter(page.ui.versions)))
    page.ui.versions[key] = (marker, version)
    return version


def _answer(version: str) -> Response:
    return JSONResponse({"version": version}, headers={"cache-control": "no-store"})
