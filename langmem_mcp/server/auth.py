"""Who is calling over HTTP: token check for MCP and REST, and the principal for the handler.

The ASGI layer authenticates each request (MCP: `Authorization: Bearer`, REST: `x-api-key`;
either header is accepted on both) and stores the principal in the request scope. REST
handlers run in the request's task, so the layer also sets it there. MCP tool calls run in
the session's task, not the request's: `PrincipalFromRequest` (an MCP server middleware)
reads the principal from the request the message came with and sets it around the handler.

With no active token, only loopback clients are served, unrestricted.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from langmem_mcp.server.lifespan import ServerContext
from langmem_mcp.service import access
from langmem_mcp.service.access import Principal

SCOPE_KEY = "langmem.principal"
CREATE_HINT = (
    "create one with `langmem-mcp token create --namespace users/NAME` (same --data-dir as the server)"
)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("x-api-key", "").strip() or None


class AccessControl:
    """ASGI middleware in front of every route (MCP and REST)."""

    def __init__(self, app: ASGIApp, served: ServerContext, own_access: tuple[str, ...] = ()) -> None:
        self.app = app
        self.served = served
        #: Path prefixes that check access themselves (the memory browser: session cookies).
        self.own_access = own_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or any(path == p or path.startswith(p + "/") for p in self.own_access):
            await self.app(scope, receive, send)
            return
        tokens = self.served.tokens
        if tokens is None:
            raise RuntimeError("the server is not running")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if await tokens.any_active():
            principal = await tokens.authenticate(presented_token(headers))
            if principal is None:
                why = "a token is required" if presented_token(headers) is None else "the token is not valid"
                await _deny(
                    send,
                    401,
                    f"{why}: send `Authorization: Bearer <token>` (MCP) or `x-api-key: <token>` (REST)",
                )
                return
        else:
            client = scope.get("client")
            if not is_loopback(client[0] if client else None):
                await _deny(
                    send,
                    403,
                    f"no access tokens are configured, so only loopback clients are served; {CREATE_HINT}",
                )
                return
            principal = access.UNRESTRICTED
        scope[SCOPE_KEY] = principal
        with access.acting_as(principal):
            await self.app(scope, receive, send)


async def _deny(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="langmem-mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class PrincipalFromRequest:
    """MCP server middleware: run each message's handler as the principal its HTTP request carried."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        request = getattr(ctx, "request", None)
        scope = getattr(request, "scope", None)
        principal: Principal | None = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
        if principal is None:  # stdio: a local, unrestricted caller
            return await call_next(ctx)
        with access.acting_as(principal):
            return await call_next(ctx)
