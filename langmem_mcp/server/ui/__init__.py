"""The memory browser: pages at /ui/ where a person sees, searches, corrects and forgets what is
remembered, on the HTTP server's services.

Server-rendered HTML (Jinja2 templates, autoescaped) with a little plain JavaScript for live
updates; nothing is fetched from the network. Access is the HTTP server's: loopback only without
tokens; with tokens, a login form sets a session cookie and the token's namespace prefix limits
everything shown and done. Writes are POST only, with a per-session CSRF token and an Origin check.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Mount, Route, Router, request_response
from starlette.staticfiles import StaticFiles

from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.server.ui import actions, live, pages
from langmem_mcp.server.ui.endpoint import UI, Handler, Page, endpoint, error_page
from langmem_mcp.server.ui.render import HERE

PREFIX = "/ui"

GET: list[tuple[str, Handler]] = [
    ("/", pages.home),
    ("/memories", pages.memories),
    ("/memory/{memory_id}", pages.memory),
    ("/memory/{memory_id}/delete", pages.confirm_delete),
    ("/users", pages.users),
    ("/users/{user_id}", pages.user),
    ("/threads", pages.threads),
    ("/threads/{thread_id}", pages.thread),
    ("/captures", pages.captures),
    ("/functions", pages.functions),
    ("/formation", pages.formation),
    ("/llm", pages.llm),
    ("/llm/prompts/{name}", pages.prompt),
    ("/changes", live.changes),
]
POST: list[tuple[str, Handler]] = [
    ("/memory/{memory_id}/edit", actions.edit),
    ("/memory/{memory_id}/supersede", actions.supersede),
    ("/memory/{memory_id}/delete", actions.delete),
    ("/logout", actions.logout),
]


def ui_mount(served: ServerContext) -> Mount:
    """The memory browser's routes, mounted at /ui."""
    ui = UI(served)
    routes: list[Route | Mount] = [Route(p, endpoint(ui, h), methods=["GET"]) for p, h in GET]
    routes += [Route(p, endpoint(ui, h), methods=["POST"]) for p, h in POST]
    routes += [
        Route("/login", endpoint(ui, pages.login, before_login=True), methods=["GET"]),
        Route("/login", endpoint(ui, actions.login, before_login=True), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def not_found(page: Page) -> Response:
        return error_page(page, 404, f"there is no page at {page.request.url.path[:200]}")

    return Mount(PREFIX, app=Router(routes, default=request_response(endpoint(ui, not_found))))
