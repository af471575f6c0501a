"""Exact nearest neighbours: score every candidate vector against the query.

Used for namespaces small enough that this beats an approximate index (see
store/vector_rows.py); vectors are L2-normalised, so the dot product is the cosine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def top_k(query: np.ndarray, matrix: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, cosine) of the k best rows, best first; ties keep row order."""
    import numpy as np

    n = matrix.shape[0]
    if n == 0 or k <= 0:
        return []
    scores = matrix.astype(np.float32, copy=False) @ np.asarray(query, dtype=np.float32)
    if k < n:
        best = np.argpartition(-scores, k - 1)[:k]
    else:
        best = np.arange(n)
    order = best[np.lexsort((best, -scores[best]))]
    return [(int(i), float(scores[i])) for i in order]
