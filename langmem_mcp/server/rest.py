"""The LangMem REST API (what the `langmem==0.0.3` client calls), as Starlette routes.

Paths, methods and bodies are the client's; every handler is a thin call into the same service
functions the MCP tools use. Errors are JSON `{"detail": "<message>"}` with the status of the one
error table (`server/errors.py`): an unknown id is 404, a bad body 422. The API key (`x-api-key`)
is checked by the HTTP server's access layer in front of these routes, which also sets the
caller's principal (and so its scope).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import InvalidInput, LangmemError
from langmem_mcp.server.errors import explain, http_status
from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.service import inputs

if TYPE_CHECKING:
    from langmem_mcp.service.container import Services

log = logging.getLogger(__name__)

Handler = Callable[["Services", Request, dict[str, Any]], Awaitable[Any]]


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def _fields(body: dict[str, Any], allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
    allowed = set(allowed)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(unknown)}; this endpoint takes {', '.join(sorted(allowed))}"
        )
    missing = [f for f in required if body.get(f) is None]
    if missing:
        raise InvalidInput(f"missing required field(s): {', '.join(missing)}")
    return body


def _bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false, not {value[:20]!r}")


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer, not {value[:20]!r}") from exc


# -- users ----------------------------------------------------------------------------------------
async def create_user(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("id", "name", "tags", "metadata"))
    return await svc.users.create(b.get("id"), b.get("name"), b.get("tags"), b.get("metadata"))


async def list_users(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("name", "id", "limit", "cursor"))
    return await svc.users.list(b.get("name"), b.get("id"), b.get("limit"), b.get("cursor"))


async def get_user(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.users.get(p["user_id"])


async def update_user(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("name", "tags", "metadata"))
    return await svc.users.update(p["user_id"], b.get("name"), b.get("tags"), b.get("metadata"))


async def list_user_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.user_memory.list_user_memory(p["user_id"])


async def trigger_user(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    _fields(await _body(req), ())
    return await svc.formation.trigger_user(p["user_id"])


async def get_user_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.user_memory.get_user_memory(p["user_id"], p["function_id"])


async def update_user_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("state",), ("state",))
    return await svc.user_memory.update_user_memory(p["user_id"], p["function_id"], b["state"])


async def delete_user_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.user_memory.delete_user_memory(p["user_id"], p["function_id"])


async def query_user_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(
        await _body(req),
        ("text", "k", "memory_function_ids", "weights", "state", "thread_query", "include_superseded"),
        ("text",),
    )
    summaries, summaries_k = None, None
    tq = b.get("thread_query")
    if tq is not None:
        if not isinstance(tq, dict):
            raise InvalidInput("thread_query must be an object with memory_function_ids (and k)")
        _fields(tq, ("memory_function_ids", "k"))
        summaries = tq.get("memory_function_ids")
        # langmem 0.0.3's sync client sends the list of ids as k: keep the default then.
        k = tq.get("k")
        summaries_k = k if isinstance(k, int) and not isinstance(k, bool) else None
    fields = {
        "text": b["text"],
        "k": b.get("k"),
        "memory_function_ids": b.get("memory_function_ids"),
        "weights": b.get("weights"),
        "states_to_return": b.get("state"),
        "thread_summaries": summaries,
        "thread_summaries_k": summaries_k,
        "include_superseded": b.get("include_superseded"),
    }
    query = {key: v for key, v in fields.items() if v is not None}
    return await svc.user_memory.query(p["user_id"], inputs.parse(inputs.UserMemoryQuery, query))


# -- memory functions ---------------------------------------------------------------------------
async def create_function(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(
        await _body(req),
        ("type", "target_type", "custom_instructions", "id", "schema", "name", "description"),
    )
    return await svc.functions.create(
        schema=b.get("schema"),
        type=b.get("type", b.get("target_type")),
        name=b.get("name"),
        description=b.get("description"),
        custom_instructions=b.get("custom_instructions"),
        function_id=b.get("id"),
    )


async def list_functions(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("target_type", "cursor", "limit"))
    return await svc.functions.list(b.get("target_type"), b.get("cursor"), b.get("limit"))


async def get_function(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.functions.get(p["function_id"])


async def update_function(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(
        await _body(req),
        ("name", "description", "custom_instructions", "type", "status", "schema", "function"),
    )
    return await svc.functions.update(
        p["function_id"],
        name=b.get("name"),
        description=b.get("description"),
        custom_instructions=b.get("custom_instructions"),
        type=b.get("type"),
        status=b.get("status"),
        schema=b.get("schema", b.get("function")),
    )


async def delete_function(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.functions.delete(p["function_id"])


# -- threads ---------------------------------------------------------------------------------------
async def create_thread(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("id", "messages", "metadata"))
    return await svc.threads.create(b.get("id"), inputs.messages(b.get("messages")), b.get("metadata"))


async def list_threads(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    """Every thread of the caller, newest first (the client takes a plain list)."""
    out: list[Any] = []
    cursor = None
    while True:
        page = await svc.threads.list(cursor=cursor)
        out += page.threads
        cursor = page.next_cursor
        if cursor is None:
            return out


async def get_thread(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.threads.get(p["thread_id"])


async def add_messages(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("messages", "metadata"), ("messages",))
    return await svc.threads.add_messages(p["thread_id"], inputs.messages(b["messages"]), b.get("metadata"))


async def list_messages(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    q = req.query_params
    unknown = set(q) - {"response_format", "page_size", "ascending_order", "cursor", "limit"}
    if unknown:
        raise InvalidInput(f"unknown query parameter(s) {', '.join(sorted(unknown))}")
    return await svc.threads.list_messages(
        p["thread_id"],
        response_format=q.get("response_format"),
        ascending_order=_bool(q.get("ascending_order"), "ascending_order"),
        page_size=_int(q.get("page_size"), "page_size"),
        cursor=q.get("cursor"),
        limit=_int(q.get("limit"), "limit"),
    )


async def list_thread_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.user_memory.list_thread_memory(p["thread_id"])


async def get_thread_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.user_memory.get_thread_memory(p["thread_id"], p["function_id"])


async def trigger_thread(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    _fields(await _body(req), ())
    return await svc.formation.trigger_thread(p["thread_id"])


async def add_thread_state(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("state", "key"), ("state",))
    return await svc.threads.set_state(p["thread_id"], b["state"], b.get("key"))


async def get_thread_state(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("key",))
    return await svc.threads.get_state(p["thread_id"], b.get("key"))


# -- agent memories (the manage_memory / search_memory tools, for HTTP hosts) ------------------------
def _namespace(value: Any) -> list[str] | None:
    """A namespace given as a list of segments or as "a/b" text (query strings)."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        return namespaces.parse(value)
    raise InvalidInput('namespace must be a list of segments or a string like "memories/project-x"')


async def create_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("content", "namespace", "metadata", "importance"), ("content",))
    return await svc.memories.create(
        b["content"], _namespace(b.get("namespace")), b.get("metadata"), b.get("importance")
    )


SEARCH_FIELDS = (
    "query",
    "limit",
    "offset",
    "filter",
    "namespace",
    "include_superseded",
    "as_of",
    "created_after",
    "created_before",
)


async def search_memories(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), SEARCH_FIELDS, ("query",))
    return await svc.memories.find(
        b["query"],
        _namespace(b.get("namespace")),
        b.get("limit", 10),
        b.get("offset", 0),
        b.get("filter"),
        include_superseded=b.get("include_superseded", False),
        as_of=b.get("as_of"),
        created_after=b.get("created_after"),
        created_before=b.get("created_before"),
    )


async def get_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.memories.get(p["memory_id"], _namespace(req.query_params.get("namespace")))


async def update_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("content", "namespace", "metadata", "importance"))
    return await svc.memories.update(
        p["memory_id"],
        _namespace(b.get("namespace")),
        b.get("content"),
        b.get("metadata"),
        b.get("importance"),
    )


async def delete_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.memories.delete(p["memory_id"], _namespace(req.query_params.get("namespace")))


async def supersede_memory(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    b = _fields(await _body(req), ("content", "namespace", "metadata", "importance"), ("content",))
    return await svc.memories.supersede(
        p["memory_id"], _namespace(b.get("namespace")), b["content"], b.get("metadata"), b.get("importance")
    )


async def memory_history(svc: Services, req: Request, p: dict[str, Any]) -> Any:
    return await svc.memories.history(p["memory_id"], _namespace(req.query_params.get("namespace")))


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/memories", create_memory),
    ("POST", "/memories/search", search_memories),
    ("GET", "/memories/{memory_id}", get_memory),
    ("PATCH", "/memories/{memory_id}", update_memory),
    ("DELETE", "/memories/{memory_id}", delete_memory),
    ("POST", "/memories/{memory_id}/supersede", supersede_memory),
    ("GET", "/memories/{memory_id}/history", memory_history),
    ("POST", "/users", create_user),
    ("POST", "/users/query", list_users),
    ("GET", "/users/{user_id}", get_user),
    ("PATCH", "/users/{user_id}", update_user),
    ("GET", "/users/{user_id}/memory", list_user_memory),
    ("POST", "/users/{user_id}/trigger-all", trigger_user),
    ("POST", "/users/{user_id}/memory/query", query_user_memory),
    ("GET", "/users/{user_id}/memory/{function_id}/state", get_user_memory),
    ("PUT", "/users/{user_id}/memory/{function_id}/state", update_user_memory),
    ("DELETE", "/users/{user_id}/memory/{function_id}/state", delete_user_memory),
    ("POST", "/memory-functions", create_function),
    ("POST", "/memory-functions/query", list_functions),
    ("GET", "/memory-functions/{function_id}", get_function),
    ("PATCH", "/memory-functions/{function_id}", update_function),
    ("DELETE", "/memory-functions/{function_id}", delete_function),
    ("POST", "/threads", create_thread),
    ("GET", "/threads", list_threads),
    ("GET", "/threads/{thread_id}", get_thread),
    ("POST", "/threads/{thread_id}/add_messages", add_messages),
    ("GET", "/threads/{thread_id}/messages", list_messages),
    ("GET", "/threads/{thread_id}/memory", list_thread_memory),
    ("GET", "/threads/{thread_id}/memory/{function_id}/state", get_thread_memory),
    ("POST", "/threads/{thread_id}/trigger-all", trigger_thread),
    ("POST", "/threads/{thread_id}/thread_state", add_thread_state),
    ("POST", "/threads/{thread_id}/thread_state/query", get_thread_state),
]


def _endpoint(served: ServerContext, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(await served.services(), request, dict(request.path_params))
        except LangmemError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=http_status(exc))
        except RecursionError:
            return JSONResponse({"detail": "the request body is nested too deeply"}, status_code=422)
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure gets a message
            detail = explain(exc, f"{request.method} {request.url.path}")
            return JSONResponse({"detail": detail}, status_code=500)
        return JSONResponse(_json(result))

    endpoint.__name__ = handler.__name__
    return endpoint


def rest_routes(served: ServerContext) -> list[BaseRoute]:
    """The LangMem REST API, on the services of `served`."""
    routes: dict[str, dict[str, Handler]] = {}
    for method, path, handler in ROUTES:
        routes.setdefault(path, {})[method] = handler
    out: list[BaseRoute] = []
    for path, by_method in routes.items():
        for method, handler in by_method.items():
            out.append(
                Route(path, _endpoint(served, handler), methods=[method], name=f"langmem:{handler.__name__}")
            )
    return out
