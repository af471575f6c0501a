"""Indexing a memory with its conversational context.

A turn such as "Melanie: Yes! It was amazing" says little alone; the turns around it say what
was amazing. Each memory is therefore indexed (never returned) with the memories stored just
before and after it in the same namespace, if they were stored close in time: BM25 sees them as
a second, down-weighted column, and the vector mixes the memory with its surroundings. Memories
far apart in time (another conversation) are not context.

Two ways to make the vector (setting `context_vectors`), measured on LoCoMo dev (README):
- "window" (default): normalise(e(memory) + e(memory in its window)) — best recall (77.1 @10),
  but each memory costs a second, longer encoding, and a neighbour's window is re-encoded when a
  memory arrives after it;
- "neighbours": normalise(e(memory) + mean(e(each neighbour))) — 75.9 @10, and every text is
  encoded once, so bulk imports run at nearly the raw encoder's speed;
- "off": e(memory) alone (75.0 @10 with the context BM25 column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

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


@dataclass(frozen=True)
class ContextPolicy:
    """Which memories are a memory's context: up to `before` memories stored just before it and
    `after` just after it in its namespace, within `window_seconds` of it (a gap ends the run)."""

    before: int = 2
    after: int = 1
    window_seconds: float = 3600.0
    #: BM25 weight of the context column relative to the memory's own text.
    lexical_weight: float = 0.4

    def join(self, before: Sequence[str], after: Sequence[str]) -> str:
        return join(before, after)

    def split(self, context: str) -> tuple[list[str], list[str]]:
        return split(context)

    def widened(self) -> ContextPolicy:
        """Seen from the other side: the memories whose context holds a given one lie up to
        `after` before it and up to `before` after it."""
        return ContextPolicy(self.after, self.before, self.window_seconds, self.lexical_weight)


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
    content: str
    context: str


def embed_memories(embedder: Embedder, rows: Sequence[HasText], mode: VectorMode = "window") -> np.ndarray:
    """One L2-normalised vector per memory, by `mode` (see the module docstring)."""
    import numpy as np

    if not rows:
        return embedder.embed([])
    if mode == "off":
        return embedder.embed([r.content for r in rows])
    if mode == "window":
        texts = [t for r in rows for t in (r.content, window(r.content, r.context))]
        vectors = embedder.embed(texts).reshape(len(rows), 2, -1).sum(axis=1)
    else:
        groups = [[r.content, *(i for part in split(r.context) for i in part)] for r in rows]
        unique = list(dict.fromkeys(t for g in groups for t in g))  # neighbours are shared: encode once
        at = {t: k for k, t in enumerate(unique)}
        encoded = embedder.embed(unique)
        vectors = np.stack(
            [
                encoded[at[g[0]]] + (encoded[[at[t] for t in g[1:]]].mean(axis=0) if len(g) > 1 else 0)
                for g in groups
            ]
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
