"""Clusters of near-duplicate memories, for `langmem-mcp dedupe`.

Greedy and centred on the memory kept: walking the memories newest first, each one not yet in a
cluster keeps every other free memory at least `threshold` similar to it. So every memory a
cluster supersedes is close to the one kept (no chains of "A is like B is like C"), and the one
kept is the newest. Similarities are computed a block of rows at a time, so a namespace of n
memories needs n x block floats, not n x n.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BLOCK = 1024


def clusters(
    vectors: np.ndarray, order: Sequence[int], threshold: float, block: int = BLOCK
) -> list[tuple[int, list[tuple[int, float]]]]:
    """(kept row, [(row, cosine to the kept one), best first]) for each cluster of two or more.
    `vectors` are L2-normalised rows; `order` lists the rows newest first."""
    import numpy as np

    n = len(vectors)
    near: list[dict[int, float]] = [{} for _ in range(n)]
    matrix = np.asarray(vectors, dtype=np.float32)
    for start in range(0, n, block):
        scores = matrix[start : start + block] @ matrix.T
        for r, c in zip(*np.nonzero(scores >= threshold), strict=True):
            if start + r != c:
                near[start + int(r)][int(c)] = float(scores[r, c])
    taken: set[int] = set()
    out: list[tuple[int, list[tuple[int, float]]]] = []
    for keep in order:
        if keep in taken:
            continue
        taken.add(keep)
        members = sorted(
            ((j, s) for j, s in near[keep].items() if j not in taken), key=lambda p: (-p[1], p[0])
        )
        taken.update(j for j, _ in members)
        if members:
            out.append((keep, members))
    return out
