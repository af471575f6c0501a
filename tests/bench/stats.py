"""Figures the benchmarks report from their timings."""

from __future__ import annotations


def percentile(xs: list[float], p: float) -> float:
    """The `p`-th percentile (0-100) of `xs`, nearest rank: a value that was measured."""
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
