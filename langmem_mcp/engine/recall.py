"""What a hook puts into the host's context: blocks within a character budget, and the relevance
floor that keeps a prompt from being handed memories that merely share a word with it.

Pure functions: the hook and the server read the store, this decides and formats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: One remembered item is cut to this many characters in a context block.
ITEM_CHARS = 320
#: An item cut shorter than this is left out instead.
MIN_ITEM_CHARS = 48


@dataclass(frozen=True)
class Section:
    """One titled block of a recall context, its items cut to fit the character budget."""

    title: str  # "" for none
    items: list[str]
    item_chars: int = ITEM_CHARS  # an item is cut to this many characters


def fit(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters (with '…')."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: max(limit - 1, 0)]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def _lines(section: Section, allowance: int) -> list[str]:
    """The section's title and as many of its items as fit in ``allowance`` characters."""
    lines = [section.title + ":"] if section.title else []
    used = sum(len(x) + 1 for x in lines)
    for item in section.items:
        room = min(section.item_chars, allowance - used - 3)  # "- " and the newline
        whole = fit(item, section.item_chars)
        if len(whole) > room and room < MIN_ITEM_CHARS:
            break  # no room for it, even cut
        line = "- " + fit(whole, room)
        lines.append(line)
        used += len(line) + 1
    return lines if len(lines) > bool(section.title) else []


def render(sections: Sequence[Section], budget: int, header: str, footer: str = "") -> str:
    """A labelled block of at most ``budget`` characters: the header, each non-empty section, the
    footer; '' when no section has an item. Sections share the budget evenly; what a short one
    leaves flows to the others."""
    filled = [s for s in sections if s.items]
    if not filled:
        return ""
    fixed = len(header) + 1 + (len(footer) + 1 if footer else 0)
    remaining = budget - fixed
    if remaining < MIN_ITEM_CHARS:
        return ""

    def need(s: Section) -> int:
        return len("\n".join(_lines(s, 10**9)))

    allowance: dict[int, int] = {}
    order = sorted(range(len(filled)), key=lambda i: need(filled[i]))
    for k, i in enumerate(order):
        share = remaining // (len(order) - k)
        allowance[i] = min(need(filled[i]) + 1, share)
        remaining -= allowance[i]
    blocks = ["\n".join(_lines(s, allowance[i])) for i, s in enumerate(filled)]
    body = "\n".join(b for b in blocks if b)
    if not body:
        return ""
    return "\n".join(x for x in (header, body, footer) if x)


# -- the relevance floor ---------------------------------------------------------------------------


#: Words nearly every prompt to a coding assistant uses ("run the tests again", "fix the failing
#: build"), and the speakers captured turns start with ("User: …"): a memory sharing only these with
#: a prompt is not about it, so the floor ignores them.
COMMON_WORDS = frozenset(
    """run runs running ran test tests testing tested fix fixes fixed fixing fail fails failed failing
    add adds added make makes made use uses using used file files code function functions method
    methods class error errors bug bugs change changes changed update updates updated check build
    write read please again now new work works working like want need look show get set help thing
    things way try see let go going done can could would should will just still thanks ok okay yes
    sure first last next line lines value values type name call return create delete remove move
    rename explain why how what where when which who commit push pull merge branch version project
    tell know think give keep find start stop open close user users assistant""".split()
)


def prompt_terms(words: Sequence[str]) -> list[str]:
    """The words of a prompt (stopwords already dropped) that can tell memories apart."""
    return [w for w in words if w not in COMMON_WORDS]


def idf(df: int, n: int) -> float:
    """Inverse document frequency; a term no memory holds counts as a rare one (df = 1)."""
    return math.log(1.0 + max(n, 1) / max(df, 1))


def coverage(terms: Sequence[str], matched: set[str], df: Mapping[str, int], n: int) -> float:
    """How much of a prompt a memory covers: the IDF-weighted share of the prompt's terms it
    contains. Rare words (names, identifiers) weigh most; words every memory has weigh little."""
    weights = {t: idf(df.get(t, 0), n) for t in terms}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in matched) / total if total else 0.0


#: Lexical floor: the memory holds at least this share of the prompt (IDF-weighted) …
LEXICAL_FLOOR = 0.5
#: … and at least this many of its terms (or all of them, for a shorter prompt).
MIN_MATCHED_TERMS = 2
#: Semantic floor (MiniLM cosine of the prompt and the memory's own text), with a model at hand:
#: prompts about a stored fact scored 0.41-0.54 against it, everyday coding prompts at most 0.30
#: against any (tests/test_capture.py has the sample).
SEMANTIC_FLOOR = 0.4


def lexically_relevant(terms: Sequence[str], matched: set[str], df: Mapping[str, int], n: int) -> bool:
    needed = min(MIN_MATCHED_TERMS, len(terms))
    return len(matched) >= needed > 0 and coverage(terms, matched, df, n) >= LEXICAL_FLOOR
