"""Coverage of an inverse set: how well samples match a reference set of the target.

- :func:`precision_recall`: k-nearest-neighbour precision and recall (Kynkaanniemi et al.,
  2019, k = 3): precision is the share of samples inside the reference's k-NN balls,
  recall the share of reference points inside the samples' k-NN balls.
- :func:`nn_ratio`: mean nearest-neighbour over mean pairwise distance (independent draws
  of a set give a few tenths; clusters of near-duplicates give ~0).
- :func:`ks_distance`: the two-sample Kolmogorov-Smirnov distance between activations.
- :func:`ks_null`: what that distance reads for exact samples alone (its noise floor), by
  permutation of exact points.
- :func:`rejection_reference`: exact samples of p(c | bands) by rejection from the prior,
  for bands that hold at least ~1% of it.
- :func:`coverage`: all of them, plus ESS and split-R-hat, for one sample set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from pipeline.errors import ConfigError
from pipeline.models.generators import random_codes
from pipeline.sampler.diagnostics import summary
from pipeline.sampler.diversity import mean_pairwise_distance
from pipeline.sampler.lagrangian import in_band


def _radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point."""
    dist = torch.cdist(points, points)
    dist.fill_diagonal_(float("inf"))
    return dist.kthvalue(min(k, points.shape[0] - 1), dim=1).values


def _covered(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Share of ``queries`` inside at least one ball (``centres``, ``radii``)."""
    return float((torch.cdist(queries, centres) <= radii[None, :]).any(dim=1).float().mean())


def precision_recall(
    samples: torch.Tensor, reference: torch.Tensor, k: int = 3
) -> dict[str, float | None]:
    """k-NN precision and recall of ``samples`` against ``reference`` (rows are points)."""
    if samples.shape[0] <= k or reference.shape[0] <= k:
        return {"precision": None, "recall": None}
    samples, reference = samples.double(), reference.double()
    return {
        "precision": _covered(samples, reference, _radii(reference, k)),
        "recall": _covered(reference, samples, _radii(samples, k)),
    }


def nn_ratio(points: torch.Tensor) -> float | None:
    """Mean nearest-neighbour distance over mean pairwise distance."""
    if points.shape[0] < 2:
        return None
    points = points.double()
    dist = torch.cdist(points, points)
    dist.fill_diagonal_(float("inf"))
    pairwise = mean_pairwise_distance(points)
    return float(dist.min(dim=1).values.mean()) / pairwise if pairwise > 0 else 0.0


def ks_distance(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Largest gap between the empirical CDFs of two 1-D samples (max over columns)."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return None
    a, b = a.double().reshape(a.shape[0], -1), b.double().reshape(b.shape[0], -1)
    worst = 0.0
    for j in range(a.shape[1]):
        x, y = a[:, j].sort().values, b[:, j].sort().values
        grid = torch.cat([x, y])
        fx = torch.searchsorted(x, grid, right=True).double() / x.shape[0]
        fy = torch.searchsorted(y, grid, right=True).double() / y.shape[0]
        worst = max(worst, float((fx - fy).abs().max()))
    return worst


def ks_null(
    exact: torch.Tensor, n: int, repeats: int = 200, seed: int = 0
) -> dict[str, float | None]:
    """The KS distance of ``n`` exact points against the rest, over random splits.

    ``exact`` holds m > n exact samples' activations (rows). Each repeat draws n of them at
    random and takes :func:`ks_distance` against the other m - n: the law of the KS that a
    sampler exact in its activations would show at this n against an exact reference of
    m - n points (a permutation null; it needs no assumption on the distribution and takes
    the largest gap over constraints as :func:`ks_distance` does). Returns its ``mean`` and
    its 95% quantile ``q95``.
    """
    m = exact.shape[0]
    if not 0 < n < m:
        return {"mean": None, "q95": None}
    rng = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(repeats):
        order = torch.randperm(m, generator=rng)
        values.append(ks_distance(exact[order[:n]], exact[order[n:]]))
    dist = torch.tensor(values, dtype=torch.float64)
    return {"mean": float(dist.mean()), "q95": float(dist.quantile(0.95))}


Readout = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def rejection_reference(
    generator: Callable[[torch.Tensor], torch.Tensor],
    readout: Readout,
    bands: Sequence[tuple[float, float]],
    n: int,
    seed: int = 0,
    batch: int = 256,
    min_rate: float = 0.01,
) -> dict[str, Any]:
    """``n`` exact samples of the prior restricted to ``bands``, by rejection.

    ``readout(x)`` returns ``(activations (m, p), features (m, e))``. Draws batches from
    the prior until n are in band; raises :class:`ConfigError` if the acceptance rate falls
    below ``min_rate`` (the band is too rare for rejection). Returns codes, activations,
    features, the draw count and the acceptance rate.
    """
    rng = torch.Generator().manual_seed(int(seed))
    lo = torch.tensor([b[0] for b in bands])
    hi = torch.tensor([b[1] for b in bands])
    kept: dict[str, list[torch.Tensor]] = {"codes": [], "acts": [], "feats": []}
    drawn = accepted = 0
    while accepted < n:
        codes = random_codes(generator, batch, rng)
        acts, feats = readout(generator(codes))
        inside = in_band(acts.cpu(), lo, hi)
        for key, value in zip(kept, (codes, acts.cpu(), feats.cpu()), strict=True):
            kept[key].append(value[inside])
        drawn, accepted = drawn + batch, accepted + int(inside.sum())
        if drawn >= batch * 4 and accepted < min_rate * drawn:
            raise ConfigError(
                f"only {accepted} of {drawn} prior draws are in band: too rare for an exact "
                "rejection reference; use a wider band or compare with diagnostics only"
            )
    out: dict[str, Any] = {key: torch.cat(v)[:n] for key, v in kept.items()}
    return {**out, "drawn": drawn, "rate": accepted / drawn}


def coverage(
    feats: torch.Tensor,
    acts: torch.Tensor,
    ref_feats: torch.Tensor,
    ref_acts: torch.Tensor,
    chains: list[torch.Tensor] | None = None,
) -> dict[str, float | None]:
    """Precision/recall and KS against a reference, NN ratio, and (given per-chain series)
    ESS and split-R-hat."""
    out: dict[str, float | None] = {
        **precision_recall(feats, ref_feats),
        "nn_ratio": nn_ratio(feats),
        "ks": ks_distance(acts, ref_acts),
    }
    if chains is not None:
        diag = summary(chains)
        out.update(ess=diag["ess"], rhat=diag["rhat"])
    return out
