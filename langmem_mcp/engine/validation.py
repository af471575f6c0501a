"""Input checks shared by every surface, so MCP and REST refuse the same things the same way."""

from __future__ import annotations

import json
import math
from typing import Any

from langmem_mcp.errors import InvalidInput

MAX_METADATA_BYTES = 64 * 1024
MAX_DEPTH = 8


def content(text: Any, max_chars: int) -> str:
    if text is None:
        raise InvalidInput("content is required")
    if not isinstance(text, str):
        raise InvalidInput(f"content must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidInput("content must not be empty")
    if len(text) > max_chars:
        raise InvalidInput(f"content is {len(text)} characters long; the limit is {max_chars}")
    _encodable(text, "content")
    return text


def _encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} contains text that is not valid Unicode (a lone surrogate)") from exc


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"metadata must be an object, not {type(value).__name__}")
    if _depth(value) > MAX_DEPTH:
        raise InvalidInput(f"metadata is nested more than {MAX_DEPTH} levels deep")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata is not plain JSON: {exc}") from exc
    _encodable(encoded, "metadata")
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return value


def importance(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput("importance must be a number between 0 and 1")
    if not 0.0 <= float(value) <= 1.0:
        raise InvalidInput(f"importance must be between 0 and 1, not {value}")
    return float(value)


def query(text: Any, max_chars: int) -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"query must be a string, not {type(text).__name__}")
    if len(text) > max_chars:
        raise InvalidInput(f"query is {len(text)} characters long; the limit is {max_chars}")
    _encodable(text, "query")
    return text


def paging(limit: Any, offset: Any, max_limit: int = 100) -> tuple[int, int]:
    for name, v in (("limit", limit), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidInput(f"{name} must be an integer")
    if not 1 <= limit <= max_limit:
        raise InvalidInput(f"limit must be between 1 and {max_limit}, not {limit}")
    if not 0 <= offset <= 10_000:
        raise InvalidInput(f"offset must be between 0 and 10000, not {offset}")
    return limit, offset
