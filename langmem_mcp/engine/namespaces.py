"""Namespaces: lists of segments such as ["memories", "project-x"], stored joined by "/"."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from langmem_mcp.errors import InvalidInput

MAX_SEGMENT = 128
MAX_DEPTH = 16
SEP = "/"


def validate(namespace: Sequence[str]) -> list[str]:
    """Return the namespace as a list, or raise InvalidInput naming the bad segment."""
    if isinstance(namespace, str) or not isinstance(namespace, Sequence):
        raise InvalidInput('namespace must be a list of strings, such as ["memories", "project-x"]')
    segments = list(namespace)
    if not segments:
        raise InvalidInput("namespace must have at least one segment")
    if len(segments) > MAX_DEPTH:
        raise InvalidInput(f"namespace has {len(segments)} segments; at most {MAX_DEPTH} are allowed")
    for seg in segments:
        if not isinstance(seg, str):
            raise InvalidInput(f"namespace segment {seg!r} is not a string")
        if not seg.strip():
            raise InvalidInput("namespace segments must not be empty")
        if SEP in seg:
            raise InvalidInput(f"namespace segment {seg[:40]!r} contains '/'")
        if len(seg) > MAX_SEGMENT:
            raise InvalidInput(f"namespace segment is {len(seg)} characters long; at most {MAX_SEGMENT}")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in seg):
            raise InvalidInput(f"namespace segment {seg[:40]!r} contains control characters")
    return segments


def join(namespace: Sequence[str]) -> str:
    return SEP.join(validate(namespace))


def split(key: str) -> list[str]:
    return key.split(SEP)


def parse(text: str) -> list[str]:
    """A namespace written as "a/b/c" (config, CLI, resource URIs)."""
    return validate([s for s in text.split(SEP) if s != ""] or [""])


def is_under(key: str, prefix: str) -> bool:
    """True if namespace `key` equals `prefix` or lies below it (segment-wise, not string-wise)."""
    return key == prefix or key.startswith(prefix + SEP)
