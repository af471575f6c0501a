"""How every memory-browser route runs: who is asking, what they may see, and what a failure
becomes.

Each handler gets a `Page`: the request, the services (the same object the MCP tools and REST
routes use), the browser session and, for a POST, the form fields, already checked to come from
one of our own pages (Origin and per-session CSRF token). The handler runs as the caller's
principal (`service/access.py`), so the token's namespace prefix limits everything it reads and
does. Domain errors become a page that says what was wrong; anything else becomes the error
boundary's message (`server/errors.py`) with its error id, never a stack trace.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from langmem_mcp.errors import LangmemError
from langmem_mcp.server.auth import CREATE_HINT, is_loopback
from langmem_mcp.server.errors import explain, http_status
from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.server.ui import render
from langmem_mcp.server.ui.sessions import Session, Sessions, csrf_ok, same_origin, set_cookie
from langmem_mcp.service import access
from langmem_mcp.service.access import Principal

if TYPE_CHECKING:
    from langmem_mcp.service.container import Services

#: Forms are small; anything larger is refused before it is parsed.
MAX_FORM_BYTES = 1024 * 1024
#: Acts on nothing: `allows` is false for every namespace (pages open before login use it).
NOBODY = Principal(prefix="")


@dataclass
class UI:
    """What the memory browser holds while the server runs."""

    served: ServerContext
    sessions: Sessions = field(default_factory=Sessions)
    #: Live views: (prefix, what) -> (store change marker, version), see `live.py`.
    versions: dict[tuple[str | None, str], tuple[tuple[int, int], str]] = field(default_factory=dict)


@dataclass
class Page:
    request: Request
    ui: UI
    session: Session
    principal: Principal
    with_tokens: bool
    form: dict[str, str] = field(default_factory=dict)

    async def services(self) -> Services:
        return await self.ui.served.services()

    def param(self, name: str) -> str:
        return self.request.query_params.get(name, "").strip()

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        return render.html(
            template,
            status,
            csrf=self.session.csrf,
            me=self.principal.prefix if self.with_tokens else None,
            with_tokens=self.with_tokens,
            path=self.request.url.path,
            **context,
        )


Handler = Callable[[Page], Awaitable[Response]]


def error_page(page: Page | None, status: int, message: str, title: str = "") -> Response:
    title = title or {
        400: "Bad request",
        401: "Not logged in",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        415: "Unsupported form",
        422: "Bad input",
        503: "Unavailable",
    }.get(status, "Something went wrong")
    if page is not None:
        return page.render("error.html", status, title=title, message=message)
    return render.html(
        "error.html", status, title=title, message=message, csrf="", me=None, with_tokens=False, path=""
    )


async def _form(request: Request) -> dict[str, str] | Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return error_page(
            None, 415, "this page only accepts its own forms (application/x-www-form-urlencoded)"
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return error_page(None, 413, f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        text = body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError) as exc:
        return error_page(None, 400, f"the form could not be read: {exc}")


def endpoint(
    ui: UI, handler: Handler, *, before_login: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """The route function for `handler`. `before_login`: reachable without a logged-in session
    (the login page itself)."""

    async def route(request: Request) -> Response:
        started = time.perf_counter()
        response = await _run(ui, handler, request, before_login)
        response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    route.__name__ = handler.__name__
    return route


async def _run(ui: UI, handler: Handler, request: Request, before_login: bool) -> Response:
    tokens = ui.served.tokens
    if tokens is None:
        return error_page(None, 503, "the server is not running")
    with_tokens = await tokens.any_active()
    session = ui.sessions.of(request)
    fresh = session is None
    if not with_tokens:
        client = request.client.host if request.client else None
        if not is_loopback(client):
            return error_page(
                None,
                403,
                f"no access tokens are configured, so only this machine may open the memory browser; {CREATE_HINT}",
            )
        if not is_loopback(_host_name(request)):
            # A page of another site whose name was pointed at 127.0.0.1 (DNS rebinding).
            return error_page(
                None, 403, f"open the memory browser as http://127.0.0.1:{request.url.port or 80}/ui/"
            )
        principal: Principal | None = access.UNRESTRICTED
    else:
        principal = await tokens.authenticate(session.token) if session and session.token else None
    if session is None:
        session = ui.sessions.new()
    page = Page(request, ui, session, principal or NOBODY, with_tokens)
    if principal is None and not before_login:
        if request.method == "POST":
            response = error_page(page, 401, "you are not logged in (or the token was revoked): log in again")
        else:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)
        if fresh:
            set_cookie(response, request, session)
        return response
    if request.method == "POST":
        why = same_origin(request)
        if why is not None:
            return error_page(page, 403, f"refused: {why}. Use the buttons on this server's own pages.")
        form = await _form(request)
        if isinstance(form, Response):
            return form
        if not csrf_ok(session, form.get("csrf")):
            return error_page(
                page,
                403,
                "refused: the form's security token does not match this session. Reload the page and try again.",
            )
        page.form = form
    with access.acting_as(page.principal):
        try:
            response = await handler(page)
        except LangmemError as exc:
            response = error_page(page, http_status(exc), str(exc))
        except RecursionError:
            response = error_page(page, 422, "the input is nested too deeply")
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure gets a message
            response = error_page(page, 500, explain(exc, f"{request.method} {request.url.path}"))
    if fresh:
        set_cookie(response, request, session)
    return response


def _host_name(request: Request) -> str | None:
    """The host name the browser used (the Host header without its port)."""
    try:
        return urlsplit("//" + request.headers.get("host", "")).hostname
    except ValueError:
        return None
