"""Quality figures of a sample set (the method note's last section).

- feasibility: share of returned samples inside every band when re-evaluated;
- distinct / duplicates: whether any two returned inputs are identical;
- edge_share: share of samples within ``EDGE`` band widths of an edge of some band;
- histogram: per band, counts of activations in ``BINS`` equal bins over [lo, hi];
- redundancy: mean nearest-neighbour distance over mean pairwise distance, in E-space
  (independent uniform samples of a set give a few tenths; near-duplicates give ~0).
"""

from __future__ import annotations

from typing import Any

import torch

from pipeline.sampler.diversity import mean_pairwise_distance

EDGE = 0.01
BINS = 10


def redundancy(feats: torch.Tensor) -> dict[str, float | None]:
    """Mean nearest-neighbour distance, mean pairwise distance, and their ratio."""
    n = feats.shape[0]
    if n < 2:
        return {"mean_nn": None, "mean_pairwise": None, "redundancy": None}
    dist = torch.cdist(feats, feats)
    dist.fill_diagonal_(float("inf"))
    mean_nn = float(dist.min(dim=1).values.mean())
    pairwise = mean_pairwise_distance(feats)
    ratio = mean_nn / pairwise if pairwise > 0 else 0.0
    return {"mean_nn": mean_nn, "mean_pairwise": pairwise, "redundancy": ratio}


def band_coverage(acts: torch.Tensor, bands: list[tuple[float, float]]) -> dict[str, Any]:
    """Edge share and per-band histograms of the activations."""
    if acts.shape[0] == 0:
        return {"edge_share": None, "histogram": [[0] * BINS for _ in bands]}
    lo = torch.tensor([b[0] for b in bands])
    hi = torch.tensor([b[1] for b in bands])
    width = hi - lo
    near = ((acts - lo) < EDGE * width) | ((hi - acts) < EDGE * width)
    hist = [
        torch.histc(acts[:, j].clamp(lo[j], hi[j]), bins=BINS, min=float(lo[j]), max=float(hi[j]))
        .long()
        .tolist()
        for j in range(len(bands))
    ]
    return {"edge_share": float(near.any(dim=1).float().mean()), "histogram": hist}


def quality(
    acts: torch.Tensor,
    bands: list[tuple[float, float]],
    feats: torch.Tensor,
    inputs: torch.Tensor,
    in_band: torch.Tensor,
) -> dict[str, Any]:
    """All quality figures of a sample set as a JSON-serialisable dict."""
    n = inputs.shape[0]
    unique = torch.unique(inputs.reshape(n, -1), dim=0).shape[0] if n else 0
    return {
        "feasibility": float(in_band.float().mean()) if n else None,
        "duplicates": n - unique,
        "distinct": unique == n,
        **band_coverage(acts, bands),
        **redundancy(feats.float()),
    }
