"""Which samples to show: greedy farthest-point order, most diverse first."""

from __future__ import annotations

import numpy as np


def farthest_first(points: np.ndarray, count: int | None = None) -> list[int]:
    """Indices of ``count`` rows of ``points`` (n, d), each the farthest from those before.

    Starts from the row farthest from the mean; ties go to the lower index, so the order is
    deterministic. ``count=None`` orders every row.
    """
    n = points.shape[0]
    count = n if count is None else min(count, n)
    if count <= 0:
        return []
    x = points.reshape(n, -1).astype(np.float64)
    gap = np.linalg.norm(x - x.mean(axis=0), axis=1)  # distance to the chosen set (so far: mean)
    chosen: list[int] = []
    for _ in range(count):
        pick = int(np.argmax(gap))
        chosen.append(pick)
        gap = np.minimum(gap, np.linalg.norm(x - x[pick], axis=1))
        gap[chosen] = -1.0
    return chosen
