"""Pure ranking: fusion of lexical and semantic lists, blended with recency and importance."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> dict[str, float]:
    """score(d) = Σ w_i / (k + rank_i(d)); robust to the incomparable scales of BM25 and cosine."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return scores


def recency(updated_at: datetime, now: datetime, half_life_days: float) -> float:
    """1.0 for now, 0.5 one half-life ago: exponential decay with age."""
    age_days = max((now - updated_at).total_seconds(), 0.0) / 86400.0
    return math.pow(0.5, age_days / half_life_days) if half_life_days > 0 else 1.0


@dataclass(frozen=True)
class Weights:
    """How much relevance, recency and importance count in a blended score."""

    relevance: float = 1.0
    recency: float = 0.0
    importance: float = 0.0


@dataclass(frozen=True)
class Scored:
    """One memory's blended score with its three parts, so callers can show why it ranked."""

    id: str
    score: float
    relevance: float
    recency: float
    importance: float


def blend(
    relevance: Mapping[str, float],
    updated_at: Mapping[str, datetime],
    importance: Mapping[str, float],
    weights: Weights,
    half_life_days: float,
    now: datetime | None = None,
) -> list[Scored]:
    """Combine scores; relevance is scaled to [0, 1] by the best hit so weights mean what they say."""
    now = now or datetime.now(UTC)
    top = max(relevance.values(), default=0.0) or 1.0
    out = []
    for doc, rel in relevance.items():
        rel_n = rel / top
        rec = recency(updated_at[doc], now, half_life_days)
        imp = importance.get(doc, 0.5)
        if weights.recency == 0 and weights.importance == 0:
            score = rel  # pure relevance: keep the fused score itself
        else:
            score = weights.relevance * rel_n + weights.recency * rec + weights.importance * imp
        out.append(Scored(doc, score, rel_n, rec, imp))
    out.sort(key=lambda s: (-s.score, s.id))
    return out
