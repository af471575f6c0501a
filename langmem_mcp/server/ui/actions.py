"""The memory browser's actions (POST): correct a memory, forget one, log in and out.

Every action has already passed the Origin and CSRF checks (`endpoint.py`) and runs as the
caller's principal; each calls the same service function as the MCP tool and the REST route
that do the same thing (`MemoryService.update`, `MemoryService.delete`).
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import Conflict, InvalidInput
from langmem_mcp.server.ui import forms, render
from langmem_mcp.server.ui.endpoint import Page
from langmem_mcp.server.ui.pages import safe_next
from langmem_mcp.server.ui.sessions import set_cookie


async def edit(page: Page) -> Response:
    """A correction: new content, metadata or importance for one memory."""
    svc = await page.services()
    memory_id = page.request.path_params["memory_id"]
    ns = forms.namespace(page.form.get("ns", ""))
    current = await svc.memories.get(memory_id, ns)  # unknown or not the caller's: 404 / 403 page
    form = {k: page.form.get(k, "") for k in ("content", "metadata", "importance")}
    try:
        await svc.memories.update(
            current.id,
            ns,
            content=form["content"],
            metadata=forms.metadata(form["metadata"]),
            importance=forms.importance(form["importance"]),
        )
    except (InvalidInput, Conflict) as exc:
        # Nothing typed is lost: the form comes back as it was sent, with what to fix.
        status = 409 if isinstance(exc, Conflict) else 422
        return page.render(
            "memory.html", status, m=current, ns=namespaces.join(ns), saved=False, error=str(exc), form=form
        )
    target = render.url(f"/memory/{current.id}", ns=namespaces.join(ns), saved="1")
    return RedirectResponse(target, status_code=303)


async def delete(page: Page) -> Response:
    svc = await page.services()
    ns = forms.namespace(page.form.get("ns", ""))
    result = await svc.memories.delete(page.request.path_params["memory_id"], ns)
    return RedirectResponse(
        render.url("/memories", ns=namespaces.join(ns), deleted=result.id), status_code=303
    )


async def login(page: Page) -> Response:
    tokens = page.ui.served.tokens
    if not page.with_tokens or tokens is None:
        return RedirectResponse("/ui/", status_code=303)
    token = page.form.get("token", "").strip()
    principal = await tokens.authenticate(token)
    target = safe_next(page.form.get("next", ""))
    if principal is None:
        why = (
            "enter your access token"
            if not token
            else "that token is not valid: it is unknown or was revoked"
        )
        return page.render(
            "login.html",
            401,
            next=target,
            error=f"{why}. Tokens start with lmm_; `langmem-mcp token create --namespace users/NAME` makes one.",
        )
    # A new session id on login, so an id planted before it is worth nothing after.
    page.ui.sessions.drop(page.session)
    session = page.ui.sessions.new(token)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, page.request, session)
    return response


async def logout(page: Page) -> Response:
    page.ui.sessions.drop(page.session)
    session = page.ui.sessions.new()
    response = RedirectResponse("/ui/login" if page.with_tokens else "/ui/", status_code=303)
    set_cookie(response, page.request, session)
    return response
