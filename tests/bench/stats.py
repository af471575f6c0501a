"""Figures the benchmarks report from their timings."""

from __future__ import annotations

import statistics


def percentile(xs: list[float], p: float) -> float:
    """The `p`-th percentile (0-100) of `xs`, nearest rank: a value that was measured."""
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(xs: list[float], scale: float = 1.0) -> dict[str, float]:
    """{"p50", "p95"} of `xs` times `scale` (1000: seconds as milliseconds), rounded to 0.01."""
    return {"p50": round(scale * statistics.median(xs), 2), "p95": round(scale * percentile(xs, 95), 2)}
