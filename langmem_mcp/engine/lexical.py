"""Turning free text into a safe FTS5 MATCH expression.

User text is never passed to FTS5 as syntax: each word becomes a quoted string, so
`"a" OR (`, `NEAR(`, `col:x` or `*` search for words instead of raising.
"""

from __future__ import annotations

import functools
import re

# Words, keeping an apostrophe suffix attached ("Caroline's" → "caroline") so it can be dropped.
_WORD = re.compile(r"\w+(?:'\w+)?", re.UNICODE)
_SPEAKER = re.compile(r"^\s*([^\W\d_][\w .'-]{0,40}?):\s")
_HEAD_MAX = 43  # the longest head _SPEAKER matches, less leading space: 41-character name, ": "
MAX_TERMS = 64

# A standard English list: function words carry no topic, and with an OR query they would make
# nearly every memory a hit.
STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too very s t can
    will just don should now i me my myself we our ours ourselves you your yours yourself yourselves he him
    his himself she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did doing would
    could might must shall may also ever""".split()
)


def words(text: str) -> list[str]:
    """Lowercased word tokens with possessive/contraction suffixes removed."""
    return [w.lower().split("'")[0] for w in _WORD.findall(text)]


def terms(text: str) -> list[str]:
    """Distinct lowercased word tokens, stopwords dropped unless nothing else is left."""
    words_ = words(text)
    kept = [w for w in words_ if w not in STOPWORDS] or words_
    seen: dict[str, None] = {}
    for w in kept:
        seen.setdefault(w, None)
    return list(seen)[:MAX_TERMS]


def phrases(text: str) -> list[str]:
    """The query's terms as quoted FTS5 phrases (user text never acts as FTS5 syntax)."""
    return ['"' + w.replace('"', '""') + '"' for w in terms(text)]


def match_expression(text: str) -> str | None:
    """An OR of quoted terms (BM25 ranks documents matching more and rarer terms higher)."""
    return " OR ".join(phrases(text)) or None


def speaker(content: str) -> str | None:
    """The speaker of a transcript-style memory ("Caroline: I went to…"), if it has one: a name
    of at most three capitalised words before a colon."""
    colon = content.find(":")
    if colon < 0:
        return None
    head = content[: colon + 2].lstrip()
    # A name is at most 41 characters; a search looks at ~100 hits from a handful of speakers,
    # so each distinct head is parsed once.
    return None if len(head) > _HEAD_MAX else _speaker(head)


@functools.lru_cache(maxsize=4096)
def _speaker(head: str) -> str | None:
    m = _SPEAKER.match(head)
    if not m:
        return None
    name = m.group(1).strip()
    parts = name.split()
    return name if len(parts) <= 3 and all(p[0].isupper() for p in parts) else None


def mentioned_speakers(query: str, speakers: set[str]) -> set[str]:
    """Speakers the query names, when it names some but not all of them (naming everyone
    distinguishes no one)."""
    tokens = set(words(query))
    named = {s for s in speakers if s and all(p in tokens for p in words(s))}
    return named if named and len(named) < len(speakers) else set()
