"""Turning free text into a safe FTS5 MATCH expression.

User text is never passed to FTS5 as syntax: each word becomes a quoted string, so
`"a" OR (`, `NEAR(`, `col:x` or `*` search for words instead of raising.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 64

STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her hers him his
    how i if in into is it its me my of on or our she so than that the their them then there these they
    this to was we were what when where which who whom why will with would you your yours""".split()
)


def terms(text: str) -> list[str]:
    """Distinct lowercased word tokens, stopwords dropped unless nothing else is left."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOPWORDS] or words
    seen: dict[str, None] = {}
    for w in kept:
        seen.setdefault(w, None)
    return list(seen)[:MAX_TERMS]


def match_expression(text: str) -> str | None:
    """An OR of quoted terms (BM25 ranks documents matching more and rarer terms higher)."""
    words = terms(text)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
