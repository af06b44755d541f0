"""Thin bands: evaluations per effective sample of the default against pure slice sampling.

A band holding a few percent of G's prior or less is where the default spends most (issue
11). On the logistic unit of ``bench.coverage`` (64-d sigmoid pixels, N(0, I) codes), for
bands between 1% and 3% of the prior, the default (independence proposals where q-hat >=
1%, kept at once) against ``independence=False`` (elliptical slice sampling alone, what
the default did below 5% before) and ``kernel="bounce", independence=False`` (reflective
elliptical HMC alone, :mod:`pipeline.sampler.bounce`). Columns: the job's status and
samples returned, forward-equivalent evaluations per sample (a backward counts as two;
seeds included), the independence tries per transition r, evaluations per slice or
independence proposal made while exploring (``tried``) per traced transition (a seed's
burn-in transitions are not traced, so their evaluations fall on the others), thin (the
IAT of the transitions, rounded up), ESS and split-R-hat of the kept samples, and
evaluations per effective sample (all evaluations / ESS). Counts, not seconds: they are
the same on every machine for a seed.

``--demo``: instead, the demo's upper relative bands (faces preset, 'sunglasses', 'ski
mask', 'wig', [0.75, 1.0] of each neuron's range over 256 random codes, n = 20, K = 10,
8-bit, seed 0) at the default budget, or ``--budget``.

``python -m bench.thin [--n 200] [--demo [--budget B]]``.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import markdown_table
from bench.coverage import logistic
from pipeline import zoo
from pipeline.runner.ranges import observed_ranges
from pipeline.sampler import Problem, SamplerConfig, SampleSet, sample_problems

BANDS = ((0.96, 0.99), (0.98, 0.995))
METHODS = {"default": {}, "slice only (independence=False)": {"independence": False},
           "bounce only (kernel=bounce, independence=False)": {"kernel": "bounce",
                                                                "independence": False}}


DEMO_UNITS = ("sunglasses", "ski mask", "wig")


def demo_rows(budget: float = 100.0) -> list[dict]:
    """The demo's upper relative bands, one row each (as ``conf/demo.yaml`` runs them)."""
    preset = zoo.load("faces")
    fs = [preset.neuron(unit) for unit in DEMO_UNITS]
    ranges = observed_ranges(preset.generator, fs, 256, 0, torch.device("cpu"))
    rows = []
    for unit, f, (low, high) in zip(DEMO_UNITS, fs, ranges.tolist(), strict=True):
        band = (low + 0.75 * (high - low), high)
        config = SamplerConfig(k=10, quantize=True, budget=budget)
        res = sample_problems(preset.generator, preset.encoder(),
                              [Problem([(f, *band)], n=20, seed=0)], config)[0]
        rows.append(_row(f"'{unit}' [{band[0]:.2f}, {band[1]:.2f}]", f"budget {budget:g}", res))
    return rows


def _row(band: str, method: str, res: SampleSet) -> dict:
    st = res.stats
    spent = st["evals_forward"] + 2 * st["evals_backward"]
    return {
        "band": band, "method": method, "status": res.status, "returned": len(res),
        "equiv": st["evals_per_sample"], "r": st["independence_tries"],
        "per_transition": st["tried"] / max(st["transitions"], 1), "thin": st["thin"],
        "ess": st["ess"], "rhat": st["rhat"],
        "per_effective": spent / st["ess"] if st["ess"] else None,
    }


def run(n: int = 200, k: int = 10) -> list[dict]:
    """One row per band and method."""
    setup = logistic()
    f = setup.constraints[0][0]
    rows = []
    for lo, hi in BANDS:
        with torch.no_grad():
            codes = torch.randn(100_000, 64, generator=torch.Generator().manual_seed(0))
            acts = f(setup.generator(codes))
        mass = float(((acts >= lo) & (acts <= hi)).float().mean())
        for name, settings in METHODS.items():
            problem = Problem([(f, lo, hi)], n=n, seed=0)
            res = sample_problems(setup.generator, None, [problem],
                                  SamplerConfig(k=k, **settings))[0]
            rows.append(_row(f"[{lo}, {hi}] ({mass:.1%} of the prior)", name, res))
    return rows


COLUMNS = (("band", "band", None), ("method", "method", None), ("status", "status", None),
           ("returned", "returned", None), ("fwd-equiv. / sample", "equiv", ".1f"),
           ("r", "r", None), ("evals / transition", "per_transition", ".1f"),
           ("thin", "thin", None), ("ESS", "ess", ".0f"), ("R-hat", "rhat", ".3f"),
           ("evals / effective sample", "per_effective", ".1f"))


def table(rows: list[dict]) -> str:
    """Markdown table of the rows."""
    return markdown_table(rows, COLUMNS)


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(prog="python -m bench.thin")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--demo", action="store_true", help="the demo's upper relative bands")
    ap.add_argument("--budget", type=float, default=100.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(table(demo_rows(args.budget) if args.demo else run(args.n)))


if __name__ == "__main__":
    main()
