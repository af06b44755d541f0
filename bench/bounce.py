"""Far-tail linear bands: elliptical slice sampling against reflective elliptical HMC.

An analytic set with a known exact law far in the prior's tail, where rejection is
impossible: the linear unit f(z) = w.z (|w| = 1) on codes z ~ N(0, I_d) (G the identity),
band [b, b + 1]. Under the target N(z) 1[band], w.z is N(0, 1) truncated to the band and
the part of z orthogonal to w is N(0, I). For b = 5, 10, 20 the default sampler with
``kernel="slice"`` (elliptical slice sampling) and ``kernel="bounce"`` (reflective
elliptical HMC, :mod:`pipeline.sampler.bounce`), same seeds, same budget. Columns: status
and samples returned, forward-equivalent evaluations per sample and per transition (a
backward counts as two; seeds included), the IAT of the transitions (the largest over the
activation and 3 random projections; thin is it rounded up, capped at 50), ESS and split-
R-hat of the kept samples, evaluations per effective sample (all evaluations / ESS), the
KS distance of the kept w.z against the analytic truncated normal and the mean variance
of the orthogonal coordinates (exact: 1). Counts, not seconds.

``--imagenet``: instead, the overnight preset (``imagenet``: 49,920-d Fourier code, prior
N(0, 0.01^2 I), MobileNetV2 at 128 px, E = features.18, 8-bit), goldfish (unit 1), logit
bands 5-10 and 20-25, n = 20, K = 10, budget 100 unless ``--budget``, both kernels; the
same columns without the analytic ones.

``python -m bench.bounce [--d 500] [--n 100] [--budget B] [--imagenet]``.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import markdown_table
from pipeline import zoo
from pipeline.models.priors import Prior
from pipeline.sampler import Problem, SamplerConfig, SampleSet, sample_problems

DEPTHS = (5.0, 10.0, 20.0)
KERNELS = ("slice", "bounce")


def linear_unit(d: int, seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor]:
    """f(x) = w.x with a random unit w (a module, so the sampler can take its gradient)."""
    w = torch.randn(d, generator=torch.Generator().manual_seed(seed))
    w = w / w.norm()
    model = torch.nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(w[None])
    return model, w


def truncated_ks(x: torch.Tensor, lo: float, hi: float) -> float:
    """KS distance of ``x`` against N(0, 1) truncated to [lo, hi] (stable far in the tail)."""
    x = x.double().sort().values
    log_sf = torch.special.log_ndtr(-x)
    sf_lo = float(torch.special.log_ndtr(torch.tensor(-lo, dtype=torch.float64)))
    sf_hi = float(torch.special.log_ndtr(torch.tensor(-hi, dtype=torch.float64)))
    cdf = (1 - torch.exp(log_sf - sf_lo)) / (1 - torch.exp(torch.tensor(sf_hi - sf_lo)))
    n = len(x)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum(upper - cdf, cdf - (upper - 1 / n)).max())


def sample(d: int, b: float, kernel: str, n: int, budget: float, k: int = 10,
           seed: int = 0) -> tuple[SampleSet, torch.Tensor]:
    """One job on the band [b, b + 1] of the linear unit, and its w."""
    model, w = linear_unit(d)
    config = SamplerConfig(k=k, kernel=kernel, budget=budget)
    res = sample_problems(lambda c: c, None, [Problem([(model, b, b + 1)], n=n, seed=seed)],
                          config, code_dim=d, prior=Prior.normal(1.0))[0]
    return res, w


def row(d: int, b: float, kernel: str, n: int, budget: float) -> dict:
    """The table's row for one depth and kernel."""
    res, w = sample(d, b, kernel, n, budget)
    st = res.stats
    spent = st["evals_forward"] + 2 * st["evals_backward"]
    x = res.codes @ w
    orth = res.codes - x[:, None] * w
    return {
        "b": b, "kernel": kernel, "status": res.status, "returned": len(res),
        "equiv": st["evals_per_sample"], "per_transition": spent / max(st["transitions"], 1),
        "iat": st["iat_transitions"], "thin": st["thin"], "ess": st["ess"], "rhat": st["rhat"],
        "per_effective": spent / st["ess"] if st["ess"] else None,
        "ks": truncated_ks(x, b, b + 1) if len(res) else None,
        "orth_var": float(orth.var(dim=0).mean()) if len(res) > 1 else None,
    }


def imagenet_rows(bands: tuple[tuple[float, float], ...] = ((5.0, 10.0), (20.0, 25.0)),
                  n: int = 20, unit: int = 1, budget: float = 100.0) -> list[dict]:
    """The overnight preset's goldfish jobs, one row per band and kernel."""
    preset = zoo.load("imagenet")
    f, encoder = preset.neuron(unit), preset.encoder()
    rows = []
    for lo, hi in bands:
        for kernel in KERNELS:
            config = SamplerConfig(k=10, kernel=kernel, quantize=True, budget=budget)
            res = sample_problems(preset.generator, encoder,
                                  [Problem([(f, lo, hi)], n=n, seed=0)], config)[0]
            st = res.stats
            spent = st["evals_forward"] + 2 * st["evals_backward"]
            rows.append({
                "b": lo, "kernel": kernel, "status": res.status, "returned": len(res),
                "equiv": st["evals_per_sample"],
                "per_transition": spent / st["transitions"] if st["transitions"] else None,
                "iat": st["iat_transitions"], "thin": st["thin"], "ess": st["ess"],
                "rhat": st["rhat"], "per_effective": spent / st["ess"] if st["ess"] else None,
                "ks": None, "orth_var": None,
            })
    return rows


def run(d: int = 500, n: int = 100, budget: float = 1000.0,
        depths: tuple[float, ...] = DEPTHS) -> list[dict]:
    """One row per depth and kernel."""
    return [row(d, b, kernel, n, budget) for b in depths for kernel in KERNELS]


COLUMNS = (("b", "b", ".0f"), ("kernel", "kernel", None), ("status", "status", None),
           ("returned", "returned", None), ("fwd-equiv. / sample", "equiv", ".1f"),
           ("fwd-equiv. / transition", "per_transition", ".1f"),
           ("IAT (transitions)", "iat", ".1f"), ("thin", "thin", None), ("ESS", "ess", ".0f"),
           ("R-hat", "rhat", ".3f"), ("fwd-equiv. / effective sample", "per_effective", ".0f"),
           ("KS of w.z", "ks", ".3f"), ("var. orthogonal", "orth_var", ".2f"))


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(prog="python -m bench.bounce")
    ap.add_argument("--d", type=int, default=500)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--budget", type=float, default=None,
                    help="per requested sample (default: 1000; 100 with --imagenet)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--imagenet", action="store_true", help="the overnight preset's goldfish")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.imagenet:
        rows = imagenet_rows(n=args.n, budget=args.budget or 100.0)
    else:
        rows = run(args.d, args.n, args.budget or 1000.0)
    print(markdown_table(rows, COLUMNS))


if __name__ == "__main__":
    main()
