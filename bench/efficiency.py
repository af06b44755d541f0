"""Sampling efficiency on real networks: steps to n = 500 samples with K = 10 chains.

The paper reports seeds in about 400 gradient steps (4 outer iterations x 100) and the
other 490 samples in about 85 fast steps, against a minimum of 49 (one sample per chain
per step). Here: output neurons of the `mnist` preset (three digits, two bands each) and
of the `faces` preset (the "sunglasses" logit, two bands), with this sampler's default
(``ess``: exploring steps are forward passes only) beside the fast sampler with its
remedies (``method="fast"``: every step a forward and a backward), and 8-bit quantised
samples (``quantize=True``, what a sweep stores); on `mnist` also the paper-literal fast
sampler (``SamplerConfig.paper()``). Steps are iterations of the K chains (seed steps:
iterations with a chain seeding; sampling steps: with a chain sampling); the evaluation
columns count rows of G and the network per returned sample, forward and backward. Bands
are quantiles of the neuron's activations over 256 random codes through G (seed 0):
"typical" = the 50-75% quantiles, "high" = 90-99%. Redundancy is the mean
nearest-neighbour distance over the mean pairwise distance in E-space (independent
samples of a set give a few tenths).
"""

from __future__ import annotations

import argparse
import time

import torch

import pipeline
from bench.common import fmt, observed, quantile_band
from pipeline import zoo

N, K = 500, 10
BANDS = {"typical": (0.5, 0.75), "high": (0.9, 0.99)}
CASES = {  # preset -> (units, band names, variants)
    "mnist": (["0", "3", "7"], ["typical", "high"], ["default (ess)", "fast sampler",
                                                    "paper-literal"]),
    "faces": (["sunglasses"], ["typical", "high"], ["default (ess)", "fast sampler"]),
}


def settings(variant: str) -> dict:
    """Sampler settings of a variant name."""
    if variant == "paper-literal":
        paper = pipeline.SamplerConfig.paper().to_dict()
        return {k: v for k, v in paper.items() if k not in ("k", "quantize")}
    if variant == "fast sampler":
        return {"method": "fast"}
    return {}


def run(n: int = N, cases: dict | None = None) -> list[dict]:
    """One row per preset, neuron, band and variant."""
    rows = []
    for name, (units, bands, variants) in (cases or CASES).items():
        preset = zoo.load(name)
        E = preset.encoder()
        for unit in units:
            f = preset.neuron(unit)
            values = observed(preset.generator, f)
            for band_name in bands:
                band = quantile_band(values, *BANDS[band_name])
                for variant in variants:
                    sampler = pipeline.InverseSetSampler(
                        preset.generator, E, [(f, *band)], k=K, quantize=True,
                        **settings(variant),
                    )
                    start = time.perf_counter()
                    result = sampler.sample(n, seed=0)
                    seconds = time.perf_counter() - start
                    s = result.stats
                    rows.append({
                        "preset": name, "neuron": f"{unit} ({f.name})",
                        "band": f"{band_name} [{band[0]}, {band[1]}]", "variant": variant,
                        "seed_steps": s["seed_steps"], "sample_steps": s["sample_steps"],
                        "returned": s["n_returned"], "redundancy": s["redundancy"],
                        "edge_share": s["edge_share"], "duplicates": s["duplicates"],
                        "forward": s["evals_forward"] / max(s["n_returned"], 1),
                        "backward": s["evals_backward"] / max(s["n_returned"], 1),
                        "seconds": seconds,
                    })
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table with the paper's figures as the first row."""
    lines = [
        "| preset | neuron | band | variant | seed steps | sampling steps | returned | "
        "redundancy | edge share | duplicates | fwd / sample | bwd / sample | s |",
        "|" + "---|" * 13,
        "| paper (CaffeNet fc8, DeePSiM) | - | - | paper | ~400 | ~85 (min. 49) | 500 | - | - "
        "| - | - | - | 240-360 (GPU, seeds) |",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['neuron']} | {r['band']} | {r['variant']} | "
            f"{r['seed_steps']} | {r['sample_steps']} | {r['returned']} | "
            f"{fmt(r['redundancy'], '.3f')} | {fmt(r['edge_share'], '.3f')} | "
            f"{r['duplicates']} | {r['forward']:.1f} | {r['backward']:.1f} | "
            f"{r['seconds']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N, help="samples per row")
    parser.add_argument("--presets", default=",".join(CASES), help="comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(table(run(args.n, {name: CASES[name] for name in args.presets.split(",")})))
