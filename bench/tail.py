"""Far-tail bands with a known exact law: elliptical slice sampling against the subspace kernel.

The analytic sets of issue 11's thin-band work: codes z ~ N(0, I) in ``--dim`` dimensions,
G the identity, and

- a linear unit f(z) = w.z (w a unit vector) in the band [b, b + 1], b = 5, 10, 20 prior
  standard deviations: the exact law is w.z ~ N(0, 1) truncated to the band and the
  orthogonal part N(0, I), so the KS distance of the samples' w.z to that truncated
  normal is exact, while rejection from the prior is impossible (q = 3e-7 .. 3e-89);
- a mildly curved unit f(z) = w.z + 0.02 (v.z)^2 (v a unit vector orthogonal to w), same
  bands (unimodal there: c < 1 / (2 b); at c = 0.1 the bands from 10 up are two modes,
  v.z near +-sqrt(10 (b - 5)), which no kernel here crosses).

Each band is sampled with ``subspace="off"`` (today's kernel: elliptical slice sampling) and
``"on"`` (:mod:`pipeline.sampler.subspace`), K = 10 chains, at the same budget. Columns: the
job's status and samples returned, forward-equivalent evaluations per sample (a backward
counts as two: seeds and the basis' gradients included), evaluations per traced
transition, the integrated autocorrelation time of the transitions (the largest over f and
3 random projections of z), thin, ESS and split-R-hat of the kept samples, all evaluations
per effective sample, the KS distance of w.z to the exact law (linear unit) and the
standard deviation of the samples' part orthogonal to w and v (exact: 1). Counts, not
seconds: the same on every machine for a seed.

``--imagenet``: instead, real thin bands: the overnight preset (``imagenet``: 49,920-d
Fourier code, prior N(0, 0.01^2 I), MobileNetV2 logits at 128 px), the goldfish logit in
bands 5-10 and 20-25, ``--n`` samples (20), K = 10, at ``--budget`` (400), both kernels;
the norms |z| of the kept samples' normal coordinates (smallest and largest; a draw of the
prior has |z| ~ sqrt(49,920) = 223) and, with the subspace kernel, the cosine between
each kept sample's gradient (in z) and its chain's frozen basis U (mean and smallest; 1:
U holds the gradient), a measurement only (its backward passes are not counted).
``--burn-in`` sets the sampler's ``burn_in`` there (10); ``--seed-step adam|normal``
(repeatable) the seed optimiser(s) compared (``seed_step``; ``--seed-step-size`` for
``normal``), ``--subspace off|on`` (repeatable) the kernels; the column "|z| of seeds"
gives the seeds' norms as they reach the band (smallest and largest).

``python -m bench.tail [--dim 500] [--n 200] [--budget 400] [--imagenet [--burn-in 10]
[--seed-step adam] [--seed-step-size 0.05] [--subspace off]]``.
"""

from __future__ import annotations

import argparse
from unittest import mock

import torch
from torch import nn

from bench.common import markdown_table
from pipeline import zoo
from pipeline.models.priors import Prior
from pipeline.sampler import Problem, SamplerConfig, SampleSet, sample_problems
from pipeline.sampler.explore import ExplorePhase
from pipeline.sampler.subspace import SubspacePhase

TAILS = (5.0, 10.0, 20.0)
CURVATURE = 0.02  # f = w.z + c (v.z)^2 is unimodal on the band [b, b + 1] for c < 1 / (2 b)
KERNELS = ("off", "on")


class Identity(nn.Module):
    """G(z) = z with the prior N(0, I)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.code_dim, self.prior = dim, Prior.normal(1.0)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """The codes themselves."""
        return codes


def directions(dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two fixed orthonormal directions w, v."""
    basis, _ = torch.linalg.qr(torch.randn(dim, 2, generator=torch.Generator().manual_seed(5)))
    return basis[:, 0].contiguous(), basis[:, 1].contiguous()


def truncated_ks(values: torch.Tensor, lo: float, hi: float) -> float:
    """KS distance of ``values`` to N(0, 1) truncated to [lo, hi] (log-space tails)."""
    x = values.double().sort().values
    log_q = torch.special.log_ndtr
    top, bottom = log_q(-torch.tensor(lo, dtype=torch.float64)), log_q(-torch.tensor(hi))
    cdf = -torch.expm1(log_q(-x) - top) / -torch.expm1(bottom.double() - top)
    m = len(x)
    i = torch.arange(1, m + 1, dtype=torch.float64)
    return float(torch.maximum(i / m - cdf, cdf - (i - 1) / m).max())


def _row(band: str, kernel: str, res: SampleSet) -> dict:
    st = res.stats
    spent = st["evals_forward"] + 2 * st["evals_backward"]
    return {
        "band": band, "kernel": kernel, "status": res.status,
        "returned": len(res), "equiv": st["evals_per_sample"],
        "per_transition": st["tried"] / max(st["transitions"], 1),
        "iat": st["iat_transitions"], "thin": st["thin"], "ess": st["ess"], "rhat": st["rhat"],
        "per_effective": spent / st["ess"] if st["ess"] else None,
    }


def _exactness(res: SampleSet, b: float, w: torch.Tensor, v: torch.Tensor,
               linear: bool) -> dict:
    """KS of w.z to the exact law (linear unit) and the spread of the rest."""
    codes = res.codes.flatten(1)
    rest = codes - (codes @ w)[:, None] * w - (codes @ v)[:, None] * v
    return {
        "ks": truncated_ks(codes @ w, b, b + 1) if linear and len(res) else None,
        "rest_std": float(rest.std()) if len(res) > 1 else None,
    }


def run(dim: int = 500, n: int = 200, budget: float = 400.0, k: int = 10) -> list[dict]:
    """One row per unit, band and kernel."""
    w, v = directions(dim)
    units = {"linear": lambda x: x @ w, "curved": lambda x: x @ w + CURVATURE * (x @ v) ** 2}
    rows = []
    for unit, f in units.items():
        for b in TAILS:
            for kernel in KERNELS:
                config = SamplerConfig(k=k, subspace=kernel, budget=budget)
                res = sample_problems(Identity(dim), None, [Problem([(f, b, b + 1)], n=n)],
                                      config)[0]
                rows.append({**_row(f"{unit} [{b:g}, {b + 1:g}]", kernel, res),
                             **_exactness(res, b, w, v, unit == "linear")})
    return rows


IMAGENET_BANDS = ((5.0, 10.0), (20.0, 25.0))
GOLDFISH = 1


def basis_cosines(f, generator: nn.Module, res: SampleSet, bases: torch.Tensor) -> torch.Tensor:
    """Per kept sample, |U^T g| / |g| with g the gradient of ``f`` in z at the sample and U
    the frozen basis of the chain that kept it (the prior is N(0, s^2 I): z = c / s)."""
    codes = res.codes.flatten(1).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(generator(codes)).sum(), codes)
    along = torch.einsum("mdr,md->mr", bases[res.chain], grad)
    return along.norm(dim=1) / grad.norm(dim=1)


def imagenet_rows(n: int = 20, budget: float = 100.0, burn_in: int = 10,
                  seed_steps: tuple[str, ...] = ("adam",), step_size: float = 0.05,
                  kernels: tuple[str, ...] = KERNELS) -> list[dict]:
    """The goldfish logit's thin bands on the overnight preset, per seed step and kernel."""
    preset = zoo.load("imagenet", size=128)
    f, G = preset.neuron(GOLDFISH), preset.generator
    rows = []
    for lo, hi in IMAGENET_BANDS:
        for seed_step in seed_steps:
            for kernel in kernels:
                config = SamplerConfig(k=10, subspace=kernel, budget=budget, burn_in=burn_in,
                                       seed_step=seed_step, seed_step_size=step_size)
                rows.append(_imagenet_row(f, G, preset.encoder(), (lo, hi), n, config))
    return rows


def _imagenet_row(f, G: nn.Module, E, band: tuple[float, float], n: int,
                  config: SamplerConfig) -> dict:
    """One job, with the |z| of its seeds (as they reach the band) and kept samples."""
    bases: list = []
    seeds: list[torch.Tensor] = []
    report, begin = SubspacePhase._report, ExplorePhase._begin

    def keep_kernel(phase, report=report):
        bases.append(phase.kernel.bases)
        report(phase)

    def note_seeds(phase, view, rows, exact, begin=begin):
        if not exact and rows:  # rows: the chains' indices
            seeds.append(G.prior.to_normal(phase.codes[rows]).norm(dim=1))
        begin(phase, view, rows, exact)

    with mock.patch.object(SubspacePhase, "_report", keep_kernel), \
            mock.patch.object(ExplorePhase, "_begin", note_seeds):
        res = sample_problems(G, E, [Problem([(f, *band)], n=n)], config)[0]
    norms = G.prior.to_normal(res.codes.flatten(1)).norm(dim=1)
    seed = torch.cat(seeds) if seeds else torch.zeros(0)
    row = {**_row(f"goldfish [{band[0]:g}, {band[1]:g}]",
                  f"{config.subspace}, {config.seed_step}", res),
           "seed_norms": _span(seed), "norms": _span(norms), "cos_mean": None, "cos_min": None}
    if bases and len(res):
        cos = basis_cosines(f, G, res, bases[0])
        row["cos_mean"], row["cos_min"] = float(cos.mean()), float(cos.min())
    return row


def _span(values: torch.Tensor) -> str:
    """``min-max`` of ``values`` (rounded), or ``-``."""
    return f"{float(values.min()):.0f}-{float(values.max()):.0f}" if len(values) else "-"


COLUMNS = (("band", "band", None), ("subspace", "kernel", None), ("status", "status", None),
           ("returned", "returned", None), ("fwd-equiv. / sample", "equiv", ".1f"),
           ("evals / transition", "per_transition", ".1f"), ("IAT (transitions)", "iat", ".1f"),
           ("thin", "thin", None), ("ESS", "ess", ".0f"), ("R-hat", "rhat", ".3f"),
           ("evals / effective sample", "per_effective", ".1f"), ("KS of w.z", "ks", ".3f"),
           ("std of the rest", "rest_std", ".3f"))
IMAGENET_COLUMNS = (("band", "band", None), ("subspace, seed step", "kernel", None),
                    *COLUMNS[2:-2]) + (("|z| of seeds", "seed_norms", None),
                                   ("|z| of samples", "norms", None),
                                   ("cos(U, g) mean", "cos_mean", ".3f"),
                                   ("cos(U, g) min", "cos_min", ".3f"))


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(prog="python -m bench.tail")
    ap.add_argument("--dim", type=int, default=500)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--budget", type=float, default=400.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--imagenet", action="store_true", help="the goldfish logit's thin bands")
    ap.add_argument("--burn-in", type=int, default=10, help="burn-in transitions (--imagenet)")
    ap.add_argument("--seed-step", action="append", choices=("adam", "normal"),
                    help="seed optimiser(s) compared (--imagenet; default adam)")
    ap.add_argument("--seed-step-size", type=float, default=0.05,
                    help="seed_step_size of seed_step=normal (--imagenet)")
    ap.add_argument("--subspace", action="append", choices=KERNELS,
                    help="kernel(s) compared (--imagenet; default both)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.imagenet:
        rows = imagenet_rows(args.n, args.budget, args.burn_in, tuple(args.seed_step or ["adam"]),
                             args.seed_step_size, tuple(args.subspace or KERNELS))
        print(markdown_table(rows, IMAGENET_COLUMNS))
        return
    print(markdown_table(run(args.dim, args.n, args.budget), COLUMNS))


if __name__ == "__main__":
    main()
