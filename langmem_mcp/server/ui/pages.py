"""The memory browser's pages (GET). Each is a thin call into the same service functions the
MCP tools, resources and REST routes use, rendered by a template."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from langmem_mcp.engine import namespaces, ranking
from langmem_mcp.errors import InvalidInput
from langmem_mcp.server.ui import diff, forms, live, tree
from langmem_mcp.server.ui.endpoint import Page
from langmem_mcp.service import access, scoping

#: Memories per page of a namespace, and search results per page.
PAGE = 50
RESULTS = 20


async def home(page: Page) -> Response:
    svc = await page.services()
    version = await live.current(page, "")  # before the data: a write in between shows up next poll
    stats = await svc.memories.stats()
    counts = {namespaces.join(s.namespace): s.count for s in stats.namespaces}
    default = namespaces.join(svc.settings.default_namespace)
    extra = [default] if page.principal.allows(default) else []
    forest = tree.build(counts, extra)
    return page.render(
        "home.html",
        version=version,
        rows=tree.flatten(forest),
        total=stats.total,
        default=default,
        lookalikes=sum(1 for _, n in tree.flatten(forest) if n.looks_like),
        index_ready=stats.index_ready,
        data_dir=stats.data_dir,
        model=stats.embedding_model,
    )


def _listing_query(page: Page) -> dict[str, str]:
    names = ("ns", "q", "filter", "from", "to", "limit", "w_rel", "w_rec", "w_imp")
    return {n: page.param(n) for n in names}


async def memories(page: Page) -> Response:
    """A namespace: its memories newest first, or the results of a search with their reasons."""
    svc = await page.services()
    query = _listing_query(page)
    ns = forms.namespace(query["ns"])
    ns_key = access.check(namespaces.join(ns))
    settings = svc.settings
    weights = ranking.Weights(settings.weight_relevance, settings.weight_recency, settings.weight_importance)
    context: dict[str, Any] = {
        "ns": ns_key,
        "query": query,
        "weights": weights,
        "deleted": page.param("deleted"),
        "hits": None,
        "listing": None,
        "matching": None,
        "error": None,
        "version": await live.current(page, ns_key),
    }
    total = await svc.memories.count(ns)
    try:
        flt = forms.metadata_filter(query["filter"])
        if query["q"]:
            weights = ranking.Weights(
                forms.weight(query["w_rel"], "relevance", weights.relevance),
                forms.weight(query["w_rec"], "recency", weights.recency),
                forms.weight(query["w_imp"], "importance", weights.importance),
            )
            offset = forms.offset(page.param("offset"))
            limit = forms.limit(query["limit"], RESULTS)
            hits = await svc.memories.search(
                query["q"], ns, limit=limit, offset=offset, filter=flt, weights=weights, explain=True
            )
            context.update(
                hits=hits,
                weights=weights,
                weighted=weights.recency > 0 or weights.importance > 0,
                offset=offset,
                limit=limit,
            )
        else:
            limit = forms.limit(query["limit"], PAGE)
            conditions: dict[str, Any] = {
                "filter": flt,
                "created_from": query["from"] or None,
                "created_to": query["to"] or None,
            }
            listing = await svc.memories.list(
                ns, limit, page.param("before") or None, newest_first=True, **conditions
            )
            filtered = flt is not None or query["from"] or query["to"]
            context.update(
                listing=listing,
                matching=await svc.memories.count(ns, **conditions) if filtered else None,
                first_page=not page.param("before"),
            )
    except InvalidInput as exc:
        # Keep what was typed: the same page, with the message above the form.
        return page.render("namespace.html", 422, total=total, **{**context, "error": str(exc)})
    return page.render("namespace.html", total=total, **context)


async def memory(page: Page) -> Response:
    svc = await page.services()
    ns = forms.namespace(page.param("ns"))
    found = await svc.memories.get(page.request.path_params["memory_id"], ns)
    return page.render(
        "memory.html",
        m=found,
        ns=namespaces.join(ns),
        saved=page.param("saved") == "1",
        error=None,
        form=None,
    )


async def confirm_delete(page: Page) -> Response:
    svc = await page.services()
    ns = forms.namespace(page.param("ns"))
    found = await svc.memories.get(page.request.path_params["memory_id"], ns)
    return page.render("delete.html", m=found, ns=namespaces.join(ns))


# -- the LangMem service model ----------------------------------------------------------------------
async def users(page: Page) -> Response:
    svc = await page.services()
    listing = await svc.users.list(
        limit=forms.limit(page.param("limit"), PAGE), cursor=page.param("cursor") or None, maximum=100
    )
    return page.render("users.html", listing=listing)


async def user(page: Page) -> Response:
    svc = await page.services()
    found = await svc.users.get(page.request.path_params["user_id"])
    states = await svc.user_memory.list_user_memory(found.id)
    ns = namespaces.join(scoping.user_namespace(scoping.current_scope(), found.id))
    return page.render("user.html", u=found, states=states, ns=ns)


async def threads(page: Page) -> Response:
    svc = await page.services()
    listing = await svc.threads.list(
        limit=forms.limit(page.param("limit"), PAGE), cursor=page.param("cursor") or None, maximum=100
    )
    return page.render("threads.html", listing=listing)


async def thread(page: Page) -> Response:
    svc = await page.services()
    found = await svc.threads.get(page.request.path_params["thread_id"])
    messages = await svc.threads.list_messages(
        found.id,
        response_format="langmem",
        page_size=forms.limit(page.param("limit"), PAGE),
        cursor=page.param("cursor") or None,
    )
    summaries = await svc.user_memory.list_thread_memory(found.id)
    return page.render("thread.html", t=found, messages=messages, summaries=summaries)


async def functions(page: Page) -> Response:
    svc = await page.services()
    listing = await svc.functions.list(None, page.param("cursor") or None)
    return page.render("functions.html", listing=listing)


async def formation(page: Page) -> Response:
    svc = await page.services()
    return page.render("formation.html", formation=await svc.formation.status())


# -- LLM usage and optimized prompts ------------------------------------------------------------------
async def llm(page: Page) -> Response:
    svc = await page.services()
    return page.render(
        "llm.html", usage=await svc.llm.usage_report(), prompts=await svc.llm.optimized_names()
    )


async def prompt(page: Page) -> Response:
    svc = await page.services()
    history = await svc.llm.prompt_history(page.request.path_params["name"])
    versions = history["history"]
    changes = [
        (versions[i], diff.lines(versions[i - 1]["prompt"], versions[i]["prompt"]) if i else None)
        for i in range(len(versions))
    ]
    return page.render("prompt.html", name=history["name"], changes=list(reversed(changes)))


# -- logging in ---------------------------------------------------------------------------------------
async def login(page: Page) -> Response:
    if not page.with_tokens:
        return RedirectResponse("/ui/", status_code=303)
    return page.render("login.html", next=safe_next(page.param("next")), error=None)


def safe_next(target: str) -> str:
    """Where to go after logging in: only a page of the memory browser."""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"
