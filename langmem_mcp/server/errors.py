"""The one error boundary of every surface: what a failure becomes for MCP tools, MCP resources and
HTTP routes.

Domain errors (`langmem_mcp.errors`) keep their message and get the status the table gives. Any
other exception is unexpected: it is logged with its traceback under a short error id, and the
caller gets a message naming the operation, the component that failed (database, index, model,
LLM), what to do about it, and the same id.
"""

from __future__ import annotations

import errno
import functools
import logging
import secrets
import sqlite3
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS

from langmem_mcp.errors import Conflict, Forbidden, InvalidInput, LangmemError, NotFound, Unavailable

log = logging.getLogger("langmem_mcp")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Mapping:
    """What one kind of domain error is on each surface."""

    http_status: int
    #: "not_found" (-32602, the SDK's ResourceNotFoundError), "invalid" (-32602, invalid params)
    #: or "failed" (-32603 with the message: forbidden, conflicting, unavailable).
    resource: str


#: Looked up along the exception's class hierarchy, most specific first.
TABLE: dict[type[BaseException], Mapping] = {
    InvalidInput: Mapping(422, "invalid"),
    NotFound: Mapping(404, "not_found"),
    Forbidden: Mapping(403, "failed"),
    Conflict: Mapping(409, "failed"),
    Unavailable: Mapping(503, "failed"),
    LangmemError: Mapping(400, "failed"),
}
#: Domain errors raised below the service layer, mapped by name so this module needs no import
#: of the llm or store packages (both load after the handshake).
BY_NAME: dict[str, Mapping] = {
    "LLMError": Mapping(502, "failed"),
    "SchemaTooNew": Mapping(500, "failed"),
    "DiskFull": Mapping(507, "failed"),  # 507 Insufficient Storage
    "ReadOnlyData": Mapping(503, "failed"),
}


def mapping(exc: BaseException) -> Mapping:
    for cls in type(exc).__mro__:
        if cls.__name__ in BY_NAME:
            return BY_NAME[cls.__name__]
        if cls in TABLE:
            return TABLE[cls]
    return Mapping(500, "failed")


def http_status(exc: LangmemError) -> int:
    return mapping(exc).http_status


# -- unexpected failures -------------------------------------------------------------------------
#: The component a failure came from, by where it was raised (the deepest frame in one of these
#: packages) or by the exception's own module.
COMPONENTS = (
    ("langmem_mcp.index.embeddings", "model"),
    ("langmem_mcp.index", "index"),
    ("langmem_mcp.store", "database"),
    ("langmem_mcp.llm", "LLM"),
    ("chromadb", "index"),
    ("hnswlib", "index"),
    ("onnxruntime", "model"),
    ("tokenizers", "model"),
    ("sqlite3", "database"),
    ("aiosqlite", "database"),
    ("anthropic", "LLM"),
    ("httpx", "LLM"),
)
ADVICE = {
    "database": "check the data directory (disk space, permissions) and run `langmem-mcp doctor`",
    "index": "run `langmem-mcp doctor --repair`; the memories themselves are safe in SQLite",
    "model": "run `langmem-mcp doctor` to check that the embedding model loads",
    "LLM": "check the LLM settings (`langmem-mcp doctor` tests the endpoint)",
    "server": "run `langmem-mcp doctor`, and see the server log",
}


def component(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.Error):
        return "database"
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        module = _module_of(frame.filename)
        for prefix, name in COMPONENTS:
            if module.startswith(prefix):
                found = name
                break
    if found:
        return found
    module = type(exc).__module__ or ""
    return next((name for prefix, name in COMPONENTS if module.startswith(prefix)), "server")


def _module_of(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in (
            "langmem_mcp",
            "chromadb",
            "onnxruntime",
            "tokenizers",
            "anthropic",
            "httpx",
            "aiosqlite",
        ):
            return ".".join(p.removesuffix(".py") for p in parts[i:])
    return parts[-1].removesuffix(".py")


def explain(exc: BaseException, operation: str) -> str:
    """The message an unexpected failure becomes; logs it with its traceback under an error id."""
    error_id = secrets.token_hex(4)
    part = component(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        what = "no space left on device"
        advice = "free disk space; nothing already saved was lost, and writes work again once there is room"
    elif isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).replace(" ", ""):
        what = "the data directory is read-only"
        advice = "make it writable (permissions, or a read-write mount); searches still work"
    elif isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
        what = "no space left on device"
        advice = "free disk space; nothing already saved was lost, and writes work again once there is room"
    else:
        what = f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__
        advice = ADVICE[part]
    log.error("%s failed in the %s [error %s]", operation, part, error_id, exc_info=exc)
    return f"{operation} failed in the {part} ({what}); {advice}. Error id {error_id} (in the server log)."


# -- boundaries ----------------------------------------------------------------------------------
def tool_boundary(name: str, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Domain errors reach the model as tool errors with their message; anything else as `explain`."""

    @functools.wraps(fn)
    async def tool(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (ToolError, MCPError):
            raise
        except LangmemError as exc:
            raise ToolError(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure gets a message
            raise ToolError(explain(exc, f"{name}")) from exc

    return tool


def resource_boundary(uri: str, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Not found is the SDK's not-found error; bad input is invalid params; other domain errors
    fail with their message (a Forbidden is not "not found"); anything else as `explain`."""

    @functools.wraps(fn)
    async def resource(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (ResourceError, MCPError):
            raise
        except LangmemError as exc:
            kind = mapping(exc).resource
            if kind == "not_found":
                raise ResourceNotFoundError(str(exc)) from exc
            if kind == "invalid":
                raise MCPError(INVALID_PARAMS, str(exc)) from exc
            raise ResourceError(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure gets a message
            raise ResourceError(explain(exc, f"reading {uri}")) from exc

    return resource


def prompt_boundary(name: str, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Domain errors fail the prompt with their message (invalid params); anything else as `explain`."""

    @functools.wraps(fn)
    async def prompt(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except MCPError:
            raise
        except LangmemError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure gets a message
            raise MCPError(INTERNAL_ERROR, explain(exc, f"prompt {name}")) from exc

    return prompt
