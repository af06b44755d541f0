"""Quality at equal compute: feasibility and diversity of every method on one neuron and band.

Every method gets about the same budget B of chain-evaluations (one forward + backward of
G and the network for one chain; the column says what each used), that is 3B
forward-equivalent evaluations (a backward counts as two forwards; the "fwd-equiv." column
says what each used). The default (``ess``: the prior restricted to the band, exploring
by forward passes only) gets those 3B forward-equivalents (``budget`` = 3B / n per
requested sample, with n = 3B so that the budget, not n, ends it) and keeps every sample
its thinning keeps. The fast variants run
K = 10 chains for B / K iterations in all (seeds included) and keep every sample they
accept; the joint problem (eq. 15) and multi-start activation maximisation optimise m
codes for B / m steps; the PPGN-style sampler runs K chains for B / K steps; lucent
optimises a batch of K images for B / K steps and keeps the batch at 5 evenly spaced
steps. Feasibility is the share of everything a method produced that lies in the band
when its stored 8-bit image is evaluated again. Diversity is measured on m of the
method's in-band samples, evenly spaced in the order they were produced (all of them
when fewer): mean pairwise / mean nearest-neighbour distance in E-space and in feature
spaces independent of E (``bench.features``). Higher is more diverse; NN distances near 0
mean near-duplicates.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import pipeline
from bench import lucent_baseline
from bench.common import (
    chain_evaluations,
    evenly,
    feasibility,
    fmt,
    observed,
    quantile_band,
    spread,
)
from bench.features import efficientnet_features, pixel_features
from pipeline import zoo

K = 10
SETUPS = {  # preset -> neuron, band quantiles, budget B, m
    "faces": {"unit": "sunglasses", "band": (0.9, 0.99), "budget": 600, "m": 30},
    "mnist": {"unit": "3", "band": (0.9, 0.99), "budget": 3000, "m": 50},
}
LUCENT_DIVERSITY_LAYER = "features.17"
ESS = "default (ess: prior restricted to the band)"
FOURIER = "this sampler (`method=\"fast\"`), Fourier G (`imagenet` preset)"


def variants(budget: int, m: int) -> dict[str, dict]:
    """Sampler settings per method so that each spends about ``budget`` chain-evaluations."""
    fast = {"method": "fast", "max_sample_steps": None}  # steps set by fit_budget
    paper = {k: v for k, v in pipeline.SamplerConfig.paper().to_dict().items()
             if k not in ("k", "quantize")}
    return {
        ESS: {"method": "ess", "n": 3 * budget, "budget": 1.0},
        "fast sampler (with remedies)": {**fast, "n": budget},
        "eq. 13: diversity in code space": {**fast, "n": budget, "diversity": "code"},
        "eq. 14: no diversity term": {**fast, "n": budget, "diversity": "none"},
        "paper-literal fast sampler": {**paper, **fast, "n": budget},
        "eq. 15: joint problem": {"method": "joint", "n": m, "max_seed_steps": budget // m - 1},
        "multi-start activation maximisation": {
            "method": "multistart", "n": m, "am_steps": budget // m - 1
        },
        "PPGN-style Langevin": {
            "method": "langevin", "n": budget, "max_sample_steps": budget // K - 1
        },
    }


def fit_budget(generator: torch.nn.Module, E: Callable, constraints: list, settings: dict,
               n: int, budget: int) -> pipeline.SampleSet:
    """Sample with ``settings``; for the fast sampler (``max_sample_steps`` None) a first,
    seed-only run (n = K, same seed, so the same seeds) gives the seed steps, and the
    sampling budget is what is left of ``budget`` after them."""
    settings = dict(settings)
    if "max_sample_steps" in settings and settings["max_sample_steps"] is None:
        first = pipeline.InverseSetSampler(generator, E, constraints, k=K, quantize=True,
                                           **{**settings, "max_sample_steps": 1})
        seeds = first.sample(K, seed=0).stats["seed_steps"]
        settings["max_sample_steps"] = max(1, budget // K - seeds - 1)
    sampler = pipeline.InverseSetSampler(generator, E, constraints, k=K, quantize=True,
                                         **settings)
    return sampler.sample(n, seed=0)


def measure(
    name: str,
    inputs: torch.Tensor,
    in_band: torch.Tensor,
    produced_share: float | None,
    evaluations: int,
    cost: int,
    seconds: float,
    m: int,
    spaces: dict[str, Callable[[torch.Tensor], torch.Tensor]],
) -> dict:
    """A table row: feasibility, then diversity of m evenly spaced in-band samples per space.

    ``evaluations`` are chain-evaluations, ``cost`` forward-equivalents (a backward is two)."""
    good = inputs[in_band] if int(in_band.sum()) > 1 else inputs
    chosen = good[evenly(good.shape[0], m)]
    row = {
        "method": name, "evaluations": evaluations, "cost": cost, "produced": inputs.shape[0],
        "feasibility": produced_share, "used": chosen.shape[0], "seconds": seconds,
        "ignores_band": int(in_band.sum()) < 2,
    }
    for space, features in spaces.items():
        row[space] = spread(features(chosen)) if chosen.shape[0] > 1 else (None, None)
    return row


def run(preset_name: str = "faces", budget: int | None = None, m: int | None = None,
        lucent: bool = True, only: list[str] | None = None) -> tuple[list[dict], dict]:
    """Rows per method, and the setting (neuron, band, budget, m, spaces, notes)."""
    setup = SETUPS[preset_name]
    budget, m = budget or setup["budget"], m or setup["m"]
    preset = zoo.load(preset_name)
    f, E = preset.neuron(setup["unit"]), preset.encoder()
    band = quantile_band(observed(preset.generator, f), *setup["band"])
    spaces: dict[str, Callable] = {"E": lambda x: E(x).detach()}
    if preset_name == "mnist":
        spaces["pixels 28x28"] = pixel_features(28)
    else:
        spaces["EfficientNet-Lite0"] = efficientnet_features()
        spaces["pixels 16x16"] = pixel_features(16)
    rows = []
    for name, settings in variants(budget, m).items():
        if only is not None and name not in only:
            continue
        n = settings.pop("n")
        start = time.perf_counter()
        result = fit_budget(preset.generator, E, [(f, *band)], settings, n, budget)
        seconds = time.perf_counter() - start
        rows.append(measure(name, result.inputs, result.in_band, feasibility(result),
                            chain_evaluations(result), forward_equivalents(result), seconds,
                            m, spaces))
    notes = {}
    if lucent and preset_name != "mnist":
        rows += lucent_rows(preset, f, band, budget, m, spaces, notes)
    setting = {"preset": preset_name, "neuron": f"{setup['unit']} ({f.name})", "band": band,
               "budget": budget, "m": m, "spaces": list(spaces), "notes": notes}
    return rows, setting


def lucent_rows(preset: zoo.Preset, f: pipeline.Neuron, band: tuple[float, float], budget: int,
                m: int, spaces: dict, notes: dict) -> list[dict]:
    """Lucent on the same neuron, and this sampler on the `imagenet` preset for reference
    (its Fourier G is the same kind of image parameterisation as lucent's)."""
    fourier = zoo.load("imagenet")
    g = fourier.neuron(f.unit, layer=f.layer)
    start = time.perf_counter()
    result = fit_budget(fourier.generator, fourier.encoder(), [(g, *band)],
                        {"method": "fast", "max_sample_steps": None}, budget, budget)
    rows = [measure(FOURIER, result.inputs,
                    result.in_band, feasibility(result), chain_evaluations(result),
                    forward_equivalents(result), time.perf_counter() - start, m, spaces)]
    why = lucent_baseline.missing()
    if why is not None:
        notes["lucent"] = why
        return rows
    start = time.perf_counter()
    images = lucent_baseline.render(preset.network, f.layer, f.unit, LUCENT_DIVERSITY_LAYER,
                                    batch=K, steps=budget // K, size=fourier.info["size"])
    seconds = time.perf_counter() - start
    images = (images * 255).round() / 255
    with torch.no_grad():
        acts = g(images)
    inside = (acts >= band[0]) & (acts <= band[1])
    rows.append(measure(f"torch-lucent, diversity on {LUCENT_DIVERSITY_LAYER}", images, inside,
                        float(inside.float().mean()), budget // K * K, 3 * (budget // K * K),
                        seconds, m, spaces))
    notes["lucent"] = (f"lucent's activations at its 5 snapshots: min {float(acts.min()):.1f}, "
                       f"median {float(acts.median()):.1f}, max {float(acts.max()):.1f}")
    return rows


def table(rows: list[dict], setting: dict) -> str:
    """Markdown: one line naming the setting, then the table."""
    spaces = setting["spaces"]
    head = ["method", "chain-evals", "fwd-equiv.", "produced", "feasibility", "in band used"]
    head += [f"{s}: mean / NN dist." for s in spaces] + ["s"]
    lines = [
        f"`{setting['preset']}`, neuron {setting['neuron']}, band [{setting['band'][0]}, "
        f"{setting['band'][1]}], budget B = {setting['budget']} chain-evaluations "
        f"({3 * setting['budget']} forward-equivalents), "
        f"m = {setting['m']}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        used = f"{r['used']}*" if r["ignores_band"] else str(r["used"])
        cells = [r["method"], str(r["evaluations"]), str(r["cost"]), str(r["produced"]),
                 fmt(r["feasibility"], ".2f"), used]
        cells += [f"{fmt(r[s][0], '.3g')} / {fmt(r[s][1], '.3g')}" for s in spaces]
        cells.append(f"{r['seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    if any(r["ignores_band"] for r in rows):
        lines += ["", "\\* fewer than 2 samples in band: diversity of everything produced, "
                  "ignoring the band."]
    for key, note in setting["notes"].items():
        lines += ["", f"{key}: {note}"]
    return "\n".join(lines)


def forward_equivalents(result: pipeline.SampleSet) -> int:
    """Evaluations of G and the network spent on a result, in forwards (a backward is two)."""
    return int(result.stats["evals_forward"] + 2 * result.stats["evals_backward"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(SETUPS), help="comma-separated")
    parser.add_argument("--budget", type=int, default=None, help="B (default: per preset)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.presets.split(","):
        print(table(*run(name, budget=args.budget)), flush=True)
