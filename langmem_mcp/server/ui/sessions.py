"""Browser sessions of the memory browser: who is looking, and the proof that a form came from us.

A session is a random id in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/ui`, mapped in
this process's memory to a per-session CSRF token and, when the server has access tokens, the
token the person logged in with (checked again on every request, so a revoked token ends its
sessions at once). Sessions live in memory only: a restart logs everyone out, which is the safe
direction for a local tool.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "langmem_ui"
PATH = "/ui"
#: A session unused this long is forgotten.
IDLE_SECONDS = 12 * 3600
#: At most this many sessions are kept; the least recently used go first.
MAX_SESSIONS = 1000


@dataclass
class Session:
    id: str
    csrf: str
    #: The access token this session logged in with (None: a local session without tokens).
    token: str | None = None
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The sessions of one server process."""

    def __init__(self) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > IDLE_SECONDS:
            del self._by_id[session_id]
            return None
        session.seen = now
        self._by_id.move_to_end(session_id)
        return session

    def new(self, token: str | None = None) -> Session:
        session = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), token=token)
        self._by_id[session.id] = session
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session

    def drop(self, session: Session) -> None:
        self._by_id.pop(session.id, None)

    def of(self, request: Request) -> Session | None:
        return self.get(request.cookies.get(COOKIE))


def set_cookie(response: Response, request: Request, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    return session is not None and bool(presented) and secrets.compare_digest(session.csrf, presented or "")


def own_origin(request: Request) -> str:
    """This server's origin as the browser addressed it (scheme and Host header)."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def same_origin(request: Request) -> str | None:
    """None if a write comes from one of our own pages; otherwise why it is refused.

    Browsers send `Origin` on every POST (and `Sec-Fetch-Site`): a form on another site, even on
    another port of this machine, has a different origin. A POST that shows neither is refused,
    since it cannot be told apart from a forged one."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the request came from another site (Sec-Fetch-Site: {fetch_site[:20]})"
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return "the request carries no Origin header"
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin != own_origin(request):
        return f"the request came from {origin[:80]!r}, not from this server's pages"
    return None
