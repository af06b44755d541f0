"""The diversity term D and the set of accepted samples, in O(K) form.

D(C) = sum_{i,j} ||e_i - e_j||^2 with e_i = E(G(c_i)). Expanding the square gives
sum_{i,j} ||e_i - e_j||^2 = 2K sum_i ||e_i - mean(e)||^2, and against a fixed set A,
sum_i sum_a ||e_i - a||^2 = |A| sum_i ||e_i||^2 - 2 (sum_i e_i).(sum_a a) + K sum_a ||a||^2,
so neither needs a pairwise loop.
"""

from __future__ import annotations

import torch


def within(feats: torch.Tensor) -> torch.Tensor:
    """sum over all ordered pairs of the K rows of ``feats`` of the squared distance."""
    k = feats.shape[0]
    return 2 * k * ((feats - feats.mean(dim=0)) ** 2).sum()


class AcceptedSet:
    """Features of every accepted sample, with the running sums the cross term needs."""

    def __init__(self, dim: int, device: torch.device) -> None:
        self.feats = torch.zeros(0, dim, device=device)
        self.total = torch.zeros(dim, device=device)
        self.total_sq = torch.zeros((), device=device)

    def __len__(self) -> int:
        return self.feats.shape[0]

    def add(self, feats: torch.Tensor) -> None:
        """Add accepted samples' features ``(r, m)``."""
        feats = feats.detach()
        self.feats = torch.cat([self.feats, feats])
        self.total = self.total + feats.sum(dim=0)
        self.total_sq = self.total_sq + (feats * feats).sum()

    def cross(self, feats: torch.Tensor) -> torch.Tensor:
        """sum_i sum_a ||e_i - a||^2 between ``feats`` (K, m) and the accepted set."""
        count = len(self)
        return (
            count * (feats * feats).sum()
            - 2 * feats.sum(dim=0) @ self.total
            + feats.shape[0] * self.total_sq
        )

    def nearest(self, feats: torch.Tensor) -> torch.Tensor:
        """Distance from each row of ``feats`` to its nearest accepted sample (inf if none)."""
        if len(self) == 0:
            return torch.full((feats.shape[0],), float("inf"), device=feats.device)
        return torch.cdist(feats.detach(), self.feats).min(dim=1).values


def mean_pairwise_distance(feats: torch.Tensor) -> float:
    """Mean Euclidean distance over distinct pairs of rows (0 for fewer than 2 rows)."""
    n = feats.shape[0]
    if n < 2:
        return 0.0
    dist = torch.cdist(feats, feats)
    return float(dist.sum() / (n * (n - 1)))
