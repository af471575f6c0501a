"""Indexing a memory with its conversational context — only where there is a conversation.

A turn such as "Melanie: Yes! It was amazing" says little alone; the turns around it say what
was amazing. Such a memory is therefore indexed (never returned) with the memories stored just
before and after it in the same namespace: BM25 sees them as a second, down-weighted column, and
the vector mixes the memory with its surroundings.

Unrelated facts saved one after another must not borrow each other's words, so a neighbour is
context only when it belongs to the same conversation (`conversation_neighbours`):
- by provenance, when the memories say where they came from (`thread_id`, `session_id` or
  `conversation_id` in their metadata, as thread messages and captured sessions do): the same
  value, and nothing across a difference;
- otherwise only when the memories are plainly a dialogue: transcript lines ("Name: text") whose
  speakers take turns around the memory. Facts written by an agent have no speaker; transcript
  lines stored out of order rarely alternate for long (by chance, 1 in 2 per pair).
A time gap of more than `window_seconds` ends the run either way.

Three ways to make the vector (setting `context_vectors`):
- "window" (default): normalise(e(memory) + e(memory in its window));
- "neighbours": normalise(e(memory) + mean(e(each neighbour))), every text encoded once;
- "off": e(memory) alone (BM25 still sees the context).
With no neighbour, every mode is e(memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from langmem_mcp.engine import lexical

if TYPE_CHECKING:
    import numpy as np


class Embedder(Protocol):
    """What context vectors need of an embedding model: L2-normalised vectors for texts."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


VectorMode = Literal["window", "neighbours", "off"]
#: Stored context: before-items SEP after-items, items separated by ITEM. FTS5's unicode61
#: tokenizer treats both control characters as spaces.
SEP = "\x1e"
ITEM = "\x1f"
#: Metadata keys that say which conversation a memory came from, most specific first.
PROVENANCE_KEYS = ("thread_id", "session_id", "conversation_id")


@dataclass(frozen=True)
class ContextPolicy:
    """Which memories are a memory's context: up to `before` memories stored just before it and
    `after` just after it in its namespace, of the same conversation, within `window_seconds`.
    Transcript lines without provenance count as a dialogue when the adjacent pairs within
    `dialogue_pairs` on each side change speaker (all but one, from `tolerant_pairs` pairs on)."""

    before: int = 2
    after: int = 1
    window_seconds: float = 3600.0
    #: BM25 weight of the context column relative to the memory's own text.
    lexical_weight: float = 0.4
    dialogue_pairs: int = 8
    tolerant_pairs: int = 10

    @property
    def reach(self) -> int:
        """How far on each side a memory's decision looks (and whose decisions a change touches)."""
        return max(self.before, self.after, self.dialogue_pairs)


@dataclass(frozen=True)
class Turn:
    """What the policy sees of a memory."""

    content: str
    metadata: Mapping[str, Any]
    at: datetime


def provenance(metadata: Mapping[str, Any]) -> str | None:
    for key in PROVENANCE_KEYS:
        value = metadata.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return f"{key}={value}"
    return None


def conversation_neighbours(
    me: Turn, before: Sequence[Turn], after: Sequence[Turn], policy: ContextPolicy
) -> tuple[list[str], list[str]]:
    """The texts of `me`'s context: of `before` (nearest first) and `after` (nearest first), the
    runs that belong to its conversation, at most `policy.before` / `policy.after` of them."""
    mine = provenance(me.metadata)
    if mine is None and not _dialogue(me, before, after, policy):
        return [], []
    out: list[list[str]] = []
    for side, limit in ((before, policy.before), (after, policy.after)):
        run: list[str] = []
        for other in side[:limit]:
            if abs((other.at - me.at).total_seconds()) > policy.window_seconds:
                break
            if provenance(other.metadata) != mine or (
                mine is None and lexical.speaker(other.content) is None
            ):
                break
            run.append(other.content)
        out.append(run)
    return out[0], out[1]


def _dialogue(me: Turn, before: Sequence[Turn], after: Sequence[Turn], policy: ContextPolicy) -> bool:
    """Transcript lines taking turns around `me`: of the adjacent pairs within `dialogue_pairs` on
    each side (a run stops at a line that is not a transcript line), every one changes speaker, or
    all but one when there are `tolerant_pairs` or more. Out of order, two speakers' lines change
    speaker half the time, so a long run of changes is rarely chance."""
    if lexical.speaker(me.content) is None:
        return False
    chain = [me]
    for other in before[: policy.dialogue_pairs]:
        if provenance(other.metadata) is not None or lexical.speaker(other.content) is None:
            break
        chain.insert(0, other)
    for other in after[: policy.dialogue_pairs]:
        if provenance(other.metadata) is not None or lexical.speaker(other.content) is None:
            break
        chain.append(other)
    speakers = [lexical.speaker(t.content) for t in chain]
    pairs = len(chain) - 1
    breaks = sum(1 for a, b in zip(speakers, speakers[1:], strict=False) if a == b)
    return pairs > 0 and breaks <= (1 if pairs >= policy.tolerant_pairs else 0)


def join(before: Sequence[str], after: Sequence[str]) -> str:
    return ITEM.join(before) + SEP + ITEM.join(after)


def split(context: str) -> tuple[list[str], list[str]]:
    before, _, after = context.partition(SEP)
    return [i for i in before.split(ITEM) if i], [i for i in after.split(ITEM) if i]


def window(content: str, context: str) -> str:
    """The memory in its surroundings, in conversation order."""
    before, after = split(context)
    return " ".join([*before, content, *after])


class HasText(Protocol):
    """What context vectors need from a memory: its own text and the stretch of talk around it."""

    content: str
    context: str


def embed_memories(
    embedder: Embedder,
    rows: Sequence[HasText],
    mode: VectorMode = "window",
    own: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """One L2-normalised vector per memory, by `mode` (see the module docstring). `own`: vectors
    of the memories' own texts already made (None where not), so they are not encoded again."""
    import numpy as np

    if not rows:
        return embedder.embed([])
    known = list(own) if own is not None else [None] * len(rows)
    wanted: dict[str, int] = {}
    for row, vec in zip(rows, known, strict=True):
        if vec is None:
            wanted.setdefault(row.content, len(wanted))
        if mode == "window" and any(split(row.context)):
            wanted.setdefault(window(row.content, row.context), len(wanted))
        elif mode == "neighbours":
            for part in split(row.context):
                for text in part:
                    wanted.setdefault(text, len(wanted))
    encoded = embedder.embed(list(wanted)) if wanted else None

    def vec_of(text: str) -> np.ndarray:
        assert encoded is not None
        found: np.ndarray = encoded[wanted[text]]
        return found

    out = []
    for row, vec in zip(rows, known, strict=True):
        base = np.asarray(vec, dtype=np.float32) if vec is not None else vec_of(row.content)
        before, after = split(row.context)
        if mode == "off" or not (before or after):
            out.append(base)
        elif mode == "window":
            out.append(base + vec_of(window(row.content, row.context)))
        else:
            out.append(base + np.mean([vec_of(t) for t in (*before, *after)], axis=0))
    vectors = np.stack(out).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised
