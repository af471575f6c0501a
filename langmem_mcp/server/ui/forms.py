"""What a person types into the memory browser, read into what the services take.

Each reader raises `InvalidInput` with a message that says what was wrong and how to write it;
the services then check the values as they check every other surface's.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, cast

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import InvalidInput
from langmem_mcp.service.memories import VALIDITY, Validity

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def namespace(text: str) -> list[str]:
    if not text:
        raise InvalidInput("which namespace? Add ?ns=a/b to the address, or pick one on the home page")
    return namespaces.parse(text)


def metadata_filter(text: str) -> dict[str, Any] | None:
    """`kind=fact, year=2024` or a JSON object such as {"year": {"$gte": 2020}}; '' for none."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"the metadata filter is not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise InvalidInput('the metadata filter must be a JSON object such as {"kind": "fact"}')
        return value
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"the metadata filter {part.strip()[:40]!r} is not key=value; write e.g. kind=fact, year=2024 "
                'or a JSON object such as {"year": {"$gte": 2020}}'
            )
        value = value.strip()
        if _NUMBER.match(value) or value in ("true", "false", "null"):
            out[key.strip()] = json.loads(value)
        else:
            out[key.strip()] = value
    return out


def limit(text: str, default: int, maximum: int = 100) -> int:
    if not text:
        return default
    try:
        n = int(text)
    except ValueError as exc:
        raise InvalidInput(f"limit must be a whole number from 1 to {maximum}, not {text[:20]!r}") from exc
    if not 1 <= n <= maximum:
        raise InvalidInput(f"limit must be from 1 to {maximum}, not {n}")
    return n


def offset(text: str, maximum: int = 10_000, name: str = "offset") -> int:
    """A position in a paged list (an offset, or the last item seen): a whole number from 0."""
    if not text:
        return 0
    try:
        n = int(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a whole number, not {text[:20]!r}") from exc
    if not 0 <= n <= maximum:
        raise InvalidInput(f"{name} must be from 0 to {maximum}, not {n}")
    return n


def weight(text: str, name: str, default: float) -> float:
    if not text:
        return default
    try:
        value = float(text)
    except ValueError as exc:
        raise InvalidInput(f"the {name} weight must be a number, not {text[:20]!r}") from exc
    if not math.isfinite(value) or not 0 <= value <= 10:
        raise InvalidInput(f"the {name} weight must be from 0 to 10, not {text[:20]}")
    return value


def metadata(text: str) -> dict[str, Any]:
    """The metadata box of the edit form: a JSON object ('' for none)."""
    text = text.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(
            f'metadata is not valid JSON ({exc}); write an object such as {{"kind": "fact"}}'
        ) from exc
    if not isinstance(value, dict):
        raise InvalidInput('metadata must be a JSON object such as {"kind": "fact"}')
    return value


def importance(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise InvalidInput(f"importance must be a number from 0 to 1, not {text[:20]!r}") from exc


def kept_metadata(text: str) -> dict[str, Any] | None:
    """The metadata box of the supersede form: empty keeps the old memory's metadata (None)."""
    return metadata(text) if text.strip() else None


def validity(text: str) -> Validity:
    """The namespace page's "show" selector; current memories unless another is chosen."""
    if not text:
        return "current"
    if text not in VALIDITY:
        raise InvalidInput(f"show must be one of {', '.join(VALIDITY)}, not {text[:20]!r}")
    return cast(Validity, text)
