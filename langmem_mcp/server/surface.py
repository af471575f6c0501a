"""How a feature declares its MCP tools, resources and prompts, and what they share.

A feature module (`server/features/`) writes its tools and resources as plain module-level
functions, each marked with `feature.tool(...)` or `feature.resource(...)`; `Feature.register`
adds them to a server behind the one error boundary (`server/errors.py`). Parameter types and the
paged-resource links every feature uses live here once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from langmem_mcp.errors import InvalidInput
from langmem_mcp.server.errors import prompt_boundary, resource_boundary, tool_boundary
from langmem_mcp.server.lifespan import ServerContext, StartHook

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: The `Context` every tool and resource template takes: its lifespan context is the server's.
Ctx = Context[ServerContext, Any]

Namespace = Annotated[
    list[str] | None,
    Field(description='Namespace segments, e.g. ["memories", "project-x"]. Omit for the default.'),
]
Messages = Annotated[
    list[dict[str, Any]],
    Field(description='The conversation: [{"role": "user"|"assistant", "content": "..."}, ...].'),
]

#: Paged resources: the default page and the largest a caller may ask for.
RESOURCE_PAGE = 50
RESOURCE_MAX = 100


def tool_hints(
    title: str, *, read_only: bool, destructive: bool, idempotent: bool, open_world: bool = False
) -> ToolAnnotations:
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


@dataclass
class Feature:
    """One group of MCP capabilities (LANGMEM_MCP_TOOLS names them), declared at import."""

    name: str
    tools: list[tuple[Callable[..., Awaitable[Any]], dict[str, Any]]] = field(default_factory=list)
    resources: list[tuple[str, Callable[..., Awaitable[Any]], dict[str, Any]]] = field(default_factory=list)
    on_start: list[Callable[[MCPServer[Any], ServerContext], Awaitable[None]]] = field(default_factory=list)
    prompts: list[tuple[Callable[..., Awaitable[Any]], dict[str, Any]]] = field(default_factory=list)

    def tool(self, name: str, description: str, annotations: ToolAnnotations) -> Callable[[F], F]:
        def mark(fn: F) -> F:
            self.tools.append((fn, {"name": name, "description": description, "annotations": annotations}))
            return fn

        return mark

    def resource(
        self, uri: str, name: str, description: str, mime_type: str = "application/json"
    ) -> Callable[[F], F]:
        def mark(fn: F) -> F:
            self.resources.append(
                (uri, fn, {"name": name, "description": description, "mime_type": mime_type})
            )
            return fn

        return mark

    def prompt(
        self, name: str, title: str, description: str, arguments: dict[str, tuple[str, bool]]
    ) -> Callable[[F], F]:
        """An MCP prompt: ``fn(served, **arguments)`` returns its text (one user message) or
        messages; ``arguments`` maps each name to (description, required)."""

        def mark(fn: F) -> F:
            options = {"name": name, "title": title, "description": description, "arguments": arguments}
            self.prompts.append((fn, options))
            return fn

        return mark

    def register(self, mcp: MCPServer[Any], served: ServerContext) -> None:
        """Add every tool and resource behind the error boundary. Static resources (no URI
        variables) get no `Context` from the SDK, so they are handed the server's context."""
        for fn, options in self.tools:
            mcp.add_tool(tool_boundary(options["name"], fn), **options)
        for uri, fn, options in self.resources:
            handler = resource_boundary(uri, fn)
            if "{" not in uri:
                handler = _bound(handler, served)
            mcp.resource(uri, **options)(handler)
        for hook in self.on_start:
            served.on_start.append(_start_hook(hook, mcp))
        for fn, options in self.prompts:
            arguments = [
                PromptArgument(name=arg, description=text, required=required)
                for arg, (text, required) in options["arguments"].items()
            ]
            mcp.add_prompt(
                Prompt(
                    name=options["name"],
                    title=options["title"],
                    description=options["description"],
                    arguments=arguments,
                    fn=prompt_boundary(options["name"], _served_first(fn, served)),
                    context_kwarg=None,
                )
            )


def _bound(
    fn: Callable[[ServerContext], Awaitable[Any]], served: ServerContext
) -> Callable[[], Awaitable[Any]]:
    async def read() -> Any:
        return await fn(served)

    read.__name__ = getattr(fn, "__name__", "read")
    read.__doc__ = fn.__doc__
    return read


def _served_first(fn: Callable[..., Awaitable[Any]], served: ServerContext) -> Callable[..., Awaitable[Any]]:
    async def render(**arguments: Any) -> Any:
        return await fn(served, **arguments)

    render.__name__ = getattr(fn, "__name__", "render")
    return render


def _start_hook(
    hook: Callable[[MCPServer[Any], ServerContext], Awaitable[None]], mcp: MCPServer[Any]
) -> StartHook:
    async def start(served: ServerContext) -> None:
        await hook(mcp, served)

    return start


# -- shared by the features' resources -------------------------------------------------------------
def dump(value: Any) -> str:
    """A resource's JSON text: pydantic models as the REST API returns them."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="json", by_alias=True) if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def segment(value: str) -> str:
    """One URI path segment, percent-encoded (a namespace joined by '/' is one segment)."""
    return quote(value, safe="")


def next_uri(base: str, cursor: str | None, **params: Any) -> str | None:
    """The link to the next page of a paged resource (None on the last page); empty parameters
    are left out."""
    if not cursor:
        return None
    query = {"cursor": cursor, **{k: v for k, v in params.items() if v not in (None, "")}}
    return f"{base}?{urlencode(query, safe='/,')}"


def paged(body: BaseModel, base: str, **params: Any) -> dict[str, Any]:
    """A page as JSON with its `next_uri` (when there is a next page)."""
    out = body.model_dump(mode="json", by_alias=True)
    link = next_uri(base, out.get("next_cursor"), **params)
    if link:
        out["next_uri"] = link
    return out


def int_param(value: str, name: str, default: int | None = None, maximum: int | None = None) -> int:
    """A resource's integer query parameter ('' takes the default)."""
    if value in ("", None):
        if default is None:
            raise InvalidInput(f"{name} is required")
        return default
    try:
        n = int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer, not {value[:20]!r}") from exc
    if maximum is not None and not 1 <= n <= maximum:
        raise InvalidInput(f"{name} must be between 1 and {maximum}")
    return n
