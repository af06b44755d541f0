"""Sampling efficiency and quality on the paper's logistic unit (n = 500, K = 10).

The unit is sigma(w.x + c) on x in [0, 1]^64 (centred), band [0.6, 0.8]; G is sigmoid
pixels and E the identity (diversity and redundancy in input space). Each variant runs
on the same seeds; the reference row is 500 independent uniform samples of the inverse
set (rejection sampling), the best redundancy any sampler could show. Steps are
iterations of the K chains; the evaluation columns count rows of G and the unit per
returned sample, forward and backward, and their cost in forward-equivalents (a backward
counts as two forwards), so that the default's forward-only exploration and the fast
sampler's forward + backward steps compare.
"""

from __future__ import annotations

import statistics
import time

import torch

import pipeline
from pipeline.sampler.metrics import band_coverage, redundancy

D, LO, HI, N, K = 64, 0.6, 0.8, 500, 10
SEEDS = (0, 1, 2)


def unit() -> tuple[torch.nn.Module, torch.Tensor, float]:
    """The logistic unit with a fixed random w (seed 123)."""
    gen = torch.Generator().manual_seed(123)
    w = torch.randn(D, generator=gen)
    linear = torch.nn.Linear(D, 1)
    with torch.no_grad():
        linear.weight.copy_(w[None])
        linear.bias.fill_(-0.5 * float(w.sum()))
    return (
        torch.nn.Sequential(torch.nn.Flatten(), linear, torch.nn.Sigmoid()),
        w,
        -0.5 * float(w.sum()),
    )


def variants() -> dict[str, dict]:
    """The settings compared: the default, the fast sampler's ablations, the paper's."""
    paper = pipeline.SamplerConfig.paper().to_dict()
    fast = {"method": "fast"}
    return {
        "default (ess: prior restricted to the band)": {},
        "fast sampler (with remedies)": fast,
        "fast sampler, no diversity term (eq. 14)": {**fast, "diversity": "none"},
        "fast sampler, normals every step": {**fast, "normals_every": 1},
        "fast sampler, no random moves (noise 0)": {**fast, "noise": 0.0},
        "fast sampler, spacing 0.3": {**fast, "spacing": 0.3},
        "paper-literal fast sampler": paper,
        "paper-literal, no diversity (eq. 14)": {**paper, "diversity": "none"},
    }


def uniform_reference(model: torch.nn.Module, n: int = N) -> dict:
    """Redundancy and edge share of independent uniform samples of the inverse set."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400_000, D, generator=gen)
    a = model(x)[:, 0]
    keep = x[(a >= LO) & (a <= HI)][:n]
    acts = model(keep)
    return {**redundancy(keep), **band_coverage(acts, [(LO, HI)])}


def run(n: int = N, seeds: tuple[int, ...] = SEEDS) -> list[dict]:
    """One row per variant: means over ``seeds``."""
    model, _, _ = unit()
    f = pipeline.neuron(model, "2", 0)
    G = pipeline.PixelGenerator((D,))
    rows = []
    for name, settings in variants().items():
        settings = {k: v for k, v in settings.items() if k != "k"}
        sampler = pipeline.InverseSetSampler(G, None, [(f, LO, HI)], k=K, **settings)
        stats, seconds = [], []
        for seed in seeds:
            start = time.perf_counter()
            result = sampler.sample(n, seed=seed)
            seconds.append(time.perf_counter() - start)
            stats.append(result.stats)
        row = {"variant": name, "seconds": statistics.mean(seconds)}
        for key in (
            "seed_steps",
            "sample_steps",
            "n_returned",
            "feasibility",
            "duplicates",
            "edge_share",
            "redundancy",
            "mean_nn",
            "mean_pairwise",
        ):
            row[key] = statistics.mean(float(s[key]) for s in stats)
        for key, count in (("forward", "evals_forward"), ("backward", "evals_backward")):
            row[key] = statistics.mean(s[count] / max(s["n_returned"], 1) for s in stats)
        row["cost"] = row["forward"] + 2 * row["backward"]
        rows.append(row)
    ref = uniform_reference(model, n)
    rows.append(
        {
            "variant": "independent uniform samples (reference)",
            "seed_steps": None,
            "sample_steps": None,
            "n_returned": n,
            "feasibility": 1.0,
            "duplicates": 0,
            "edge_share": ref["edge_share"],
            "redundancy": ref["redundancy"],
            "mean_nn": ref["mean_nn"],
            "mean_pairwise": ref["mean_pairwise"],
            "forward": None,
            "backward": None,
            "cost": None,
            "seconds": None,
        }
    )
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the rows."""
    head = (
        "| variant | seed steps | sampling steps | returned | feasibility | duplicates | "
        "edge share | redundancy | mean NN | mean pairwise | fwd / sample | bwd / sample | "
        "fwd-equiv. / sample | s |"
    )
    lines = [head, "|" + "---|" * 14]

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    for r in rows:
        lines.append(
            f"| {r['variant']} | {fmt(r['seed_steps'], '.0f')} | {fmt(r['sample_steps'], '.0f')} | "
            f"{fmt(r['n_returned'], '.0f')} | {fmt(r['feasibility'], '.3f')} | "
            f"{fmt(r['duplicates'], '.0f')} | {fmt(r['edge_share'], '.3f')} | "
            f"{fmt(r['redundancy'], '.3f')} | {fmt(r['mean_nn'], '.3f')} | "
            f"{fmt(r['mean_pairwise'], '.2f')} | {fmt(r['forward'], '.1f')} | "
            f"{fmt(r['backward'], '.1f')} | {fmt(r['cost'], '.1f')} | {fmt(r['seconds'], '.2f')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(table(run()))
