"""Templates of the memory browser: one Jinja2 environment, autoescaping everything.

Every value reaches the page through a template with autoescape on, so memory content,
metadata, namespaces and ids show as text whatever they contain; the page's Content Security
Policy also refuses inline scripts, so even a missed escape could not run one.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent

#: Sent with every page: scripts and styles only from /ui/static, no framing, forms only to us.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def short_time(value: str | None) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM:SS' (UTC), for tables."""
    if not value:
        return ""
    return value[:19].replace("T", " ")


def url(path: str, **params: Any) -> str:
    """A /ui URL with its query (empty parameters left out; `from_` is sent as `from`)."""
    query = {k.rstrip("_"): v for k, v in params.items() if v not in (None, "")}
    return f"/ui{path}" + (f"?{urlencode(query, safe='/')}" if query else "")


def ns_text(namespace: list[str] | str) -> str:
    return namespace if isinstance(namespace, str) else "/".join(namespace)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = pretty_json
    env.filters["compact"] = compact_json
    env.filters["when"] = short_time
    env.filters["ns"] = ns_text
    env.globals["url"] = url
    return env


def html(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    text = environment().get_template(template).render(**context)
    return HTMLResponse(text, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
