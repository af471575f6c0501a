"""The memory browser's pages (GET). Each is a thin call into the same service functions the
MCP tools, resources and REST routes use, rendered by a template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response

from langmem_mcp.engine import namespaces, ranking, times
from langmem_mcp.engine.projects import conversation_namespace
from langmem_mcp.errors import InvalidInput, NotFound
from langmem_mcp.server.ui import diff, forms, live, tree
from langmem_mcp.server.ui.endpoint import Page
from langmem_mcp.service import access, capture_status, scoping
from langmem_mcp.service.models.memories import Memory, MemoryHistory

if TYPE_CHECKING:
    from langmem_mcp.service.container import Services

#: Memories per page of a namespace, and search results per page.
PAGE = 50
RESULTS = 20
#: Captured sessions, queued jobs and hook errors per page.
CAPTURES = 20


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
        superseded=await _superseded_counts(svc),
        version=version,
        rows=tree.flatten(forest),
        total=stats.total,
        default=default,
        lookalikes=sum(1 for _, n in tree.flatten(forest) if n.looks_like),
        index_ready=stats.index_ready,
        data_dir=stats.data_dir,
        model=stats.embedding_model,
    )


async def _superseded_counts(svc: Services) -> dict[str, int]:
    """How many memories of each namespace (that has any) are superseded."""
    out: dict[str, int] = {}
    cursor = None
    while True:
        found = await svc.memories.namespaces(cursor, 100)
        out |= {
            namespaces.join(n.namespace): n.count - n.current for n in found.namespaces if n.current < n.count
        }
        cursor = found.next_cursor
        if cursor is None:
            return out


def _listing_query(page: Page) -> dict[str, str]:
    names = ("ns", "q", "filter", "from", "to", "limit", "w_rel", "w_rec", "w_imp", "show")
    return {n: page.param(n) for n in names}


async def memories(page: Page) -> Response:
    """A namespace: its memories newest first, or the results of a search with their reasons;
    current memories unless the person asks for superseded ones, or both."""
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
    context["superseded"] = await svc.memories.count(ns, validity="superseded") if total else 0
    try:
        flt = forms.metadata_filter(query["filter"])
        show = forms.validity(query["show"])
        if query["q"]:
            weights = ranking.Weights(
                forms.weight(query["w_rel"], "relevance", weights.relevance),
                forms.weight(query["w_rec"], "recency", weights.recency),
                forms.weight(query["w_imp"], "importance", weights.importance),
            )
            offset = forms.offset(page.param("offset"))
            limit = forms.limit(query["limit"], RESULTS)
            hits = await svc.memories.search(
                query["q"],
                ns,
                limit=limit,
                offset=offset,
                filter=flt,
                weights=weights,
                explain=True,
                include_superseded=show == "all",
                superseded_only=show == "superseded",
                # To includes its whole day, as it does for the list
                created_after=times.instant(query["from"] or None, "from"),
                created_before=times.instant(query["to"] or None, "to", end_of_day=True),
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
                ns, limit, page.param("before") or None, newest_first=True, validity=show, **conditions
            )
            filtered = flt is not None or query["from"] or query["to"]
            context.update(
                listing=listing,
                matching=await svc.memories.count(ns, validity=show, **conditions) if filtered else None,
                first_page=not page.param("before"),
            )
    except InvalidInput as exc:
        # Keep what was typed: the same page, with the message above the form.
        return page.render("namespace.html", 422, total=total, **{**context, "error": str(exc)})
    return page.render("namespace.html", total=total, **context)


#: How far the supersede chain is followed each way from a memory.
MAX_CHAIN = 20


async def chain(svc: Services, history: MemoryHistory, ns: list[str]) -> list[Memory]:
    """The memories a memory's supersede chain links, itself included, oldest fact first: every
    memory it replaced (and those they replaced), and the one that replaced it, up to the current
    one. A memory deleted since is simply not in the chain (its links are cleared)."""
    seen = {history.id}
    found: list[Memory] = [await svc.memories.get(history.id, ns)]
    earlier = list(history.supersedes)
    while earlier and len(found) < MAX_CHAIN:
        mid = earlier.pop(0)
        if mid in seen:
            continue
        seen.add(mid)
        try:
            found.append(await svc.memories.get(mid, ns))
            earlier += (await svc.memories.history(mid, ns)).supersedes
        except NotFound:
            continue
    later = history.superseded_by
    while later and later not in seen and len(found) < 2 * MAX_CHAIN:
        seen.add(later)
        try:
            memory = await svc.memories.get(later, ns)
        except NotFound:
            break
        found.append(memory)
        later = memory.superseded_by
    return sorted(found, key=lambda m: (m.valid_from, m.created_at))


async def memory_context(svc: Services, found: Memory, ns: list[str]) -> dict[str, Any]:
    """What the memory page shows beside the memory: its versions and its supersede chain."""
    history = await svc.memories.history(found.id, ns)
    links = await chain(svc, history, ns) if history.supersedes or history.superseded_by else []
    return {"m": found, "ns": namespaces.join(ns), "history": history, "chain": links}


async def memory(page: Page) -> Response:
    svc = await page.services()
    ns = forms.namespace(page.param("ns"))
    found = await svc.memories.get(page.request.path_params["memory_id"], ns)
    return page.render(
        "memory.html",
        **await memory_context(svc, found, ns),
        saved=page.param("saved"),
        replaced=page.param("replaced"),
        redacted=page.param("redacted"),
        error=None,
        form=None,
        supersede_form=None,
    )


async def confirm_delete(page: Page) -> Response:
    svc = await page.services()
    ns = forms.namespace(page.param("ns"))
    found = await svc.memories.get(page.request.path_params["memory_id"], ns)
    history = await svc.memories.history(found.id, ns)
    return page.render("delete.html", m=found, ns=namespaces.join(ns), history=history)


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
    return page.render(
        "thread.html",
        t=found,
        messages=messages,
        summaries=summaries,
        conversations=_conversations(found.metadata) if found.metadata.get("source") else None,
    )


def _conversations(metadata: dict[str, Any]) -> str | None:
    """The namespace of a captured session's conversation memories, from its thread's metadata."""
    project = metadata.get("project")
    if not isinstance(project, str) or not project:
        return None
    try:
        return namespaces.join(conversation_namespace(project))
    except InvalidInput:
        return None


async def functions(page: Page) -> Response:
    svc = await page.services()
    listing = await svc.functions.list(None, page.param("cursor") or None)
    return page.render("functions.html", listing=listing)


async def captures(page: Page) -> Response:
    """What the Claude Code hooks and transcript imports captured, what waits in the queue (and why
    a job failed), and the hooks' last errors."""
    svc = await page.services()
    found = await capture_status.status(
        svc.settings,
        limit=forms.limit(page.param("limit"), CAPTURES),
        sessions_from=forms.offset(page.param("sessions"), name="sessions"),
        jobs_after=forms.offset(page.param("jobs"), 2**62, "jobs"),
        errors_from=forms.offset(page.param("errors"), name="errors"),
    )
    summaries = [s.summary_id for s in found.sessions.items if s.summary_id]
    rows = await svc.memories.rows(summaries) if summaries else {}
    return page.render(
        "captures.html",
        capture=found,
        summary_ns={k: r.namespace for k, r in rows.items()},
        conversations={s.project: _conversations({"project": s.project}) for s in found.sessions.items},
        limit=page.param("limit"),
        at={k: page.param(k) for k in ("sessions", "jobs", "errors")},
    )


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
