"""The memory browser's actions (POST): correct a memory, supersede it, forget it, log in and out.

Every action has already passed the Origin and CSRF checks (`endpoint.py`) and runs as the
caller's principal; each calls the same service function as the MCP tool (`manage_memory`) and
the REST route that do the same thing (`MemoryService.update`: PATCH /memories/{id};
`MemoryService.supersede`: POST /memories/{id}/supersede; `MemoryService.delete`: DELETE).
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import Conflict, InvalidInput
from langmem_mcp.server.ui import forms, pages, render
from langmem_mcp.server.ui.endpoint import Page
from langmem_mcp.server.ui.pages import safe_next
from langmem_mcp.server.ui.sessions import set_cookie
from langmem_mcp.service.models.memories import Memory, WriteResult


async def edit(page: Page) -> Response:
    """A correction: new content, metadata or importance for one memory; the version it replaces
    goes to the memory's history."""
    svc = await page.services()
    memory_id = page.request.path_params["memory_id"]
    ns = forms.namespace(page.form.get("ns", ""))
    current = await svc.memories.get(memory_id, ns)  # unknown or not the caller's: 404 / 403 page
    form = {k: page.form.get(k, "") for k in ("content", "metadata", "importance")}
    try:
        result = await svc.memories.update(
            current.id,
            ns,
            content=form["content"],
            metadata=forms.metadata(form["metadata"]),
            importance=forms.importance(form["importance"]),
        )
    except (InvalidInput, Conflict) as exc:
        # Nothing typed is lost: the form comes back as it was sent, with what to fix.
        return await _again(page, current, ns, exc, form=form)
    return _saved(current.id, ns, result, saved="correction")


async def supersede(page: Page) -> Response:
    """The world changed: a new memory states what is true now and this one ends, kept as a
    record of what was true until now."""
    svc = await page.services()
    ns = forms.namespace(page.form.get("ns", ""))
    current = await svc.memories.get(page.request.path_params["memory_id"], ns)
    form = {k: page.form.get(k, "") for k in ("content", "metadata", "importance")}
    try:
        result = await svc.memories.supersede(
            current.id,
            ns,
            form["content"],
            metadata=forms.kept_metadata(form["metadata"]),
            importance=forms.importance(form["importance"]),
        )
    except (InvalidInput, Conflict) as exc:
        return await _again(page, current, ns, exc, supersede_form=form)
    return _saved(result.id, ns, result, saved="supersede", replaced=current.id)


async def _again(
    page: Page, current: Memory, ns: list[str], exc: Exception, **forms_sent: dict[str, str]
) -> Response:
    """The memory page again, with what was wrong and the form as it was sent."""
    status = 409 if isinstance(exc, Conflict) else 422
    context = await pages.memory_context(await page.services(), current, ns)
    return page.render(
        "memory.html",
        status,
        **context,
        saved="",
        replaced="",
        redacted="",
        error=str(exc),
        **{"form": None, "supersede_form": None, **forms_sent},
    )


def _saved(memory_id: str, ns: list[str], result: WriteResult, **params: str) -> Response:
    target = render.url(
        f"/memory/{memory_id}", ns=namespaces.join(ns), redacted=",".join(result.redacted), **params
    )
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
