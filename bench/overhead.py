"""Time per sampler step against the bare passes of G, f and E (the limit).

On the `faces` preset (DCGAN -> 128 px -> MobileNetV2), K = 10 chains, one output
neuron in a band inside its observed range (50-90% quantiles). "bare" is codes -> G ->
network -> one backward to the codes, written with plain torch calls ("bare forward":
the same under ``torch.no_grad``, no backward); the sampler rows are the time per
iteration (median over the iterations of a run, best of REPEATS runs), measured in the
same process, interleaved with the bare steps: the fast sampler's (``method="fast"``)
seed phase and fast phase, against the bare forward + backward; the default's (``ess``)
iterations once it has its first sample, when its chains explore with forward passes
only, against the bare forward. A fast step with tangent noise does one extra backward
per constraint when it recomputes the normals (every ``normals_every`` steps; default
4): the "two backwards" row is that step's floor, and `normals_every=1` and
`tangent=False` show the cost.
"""

from __future__ import annotations

import statistics
import time

import torch

import pipeline
from pipeline import zoo

K, UNIT, REPEATS, N = 10, 837, 2, 100
ESS = "default (ess), exploring step (ratio to the bare forward)"


def observed_band(preset: zoo.Preset, f: pipeline.Neuron) -> tuple[float, float]:
    """The 50-90% quantiles of f on 64 random codes."""
    with torch.no_grad():
        codes = torch.randn(
            64, preset.generator.code_dim, generator=torch.Generator().manual_seed(0)
        )
        values = f(preset.generator(codes))
    lo, hi = torch.quantile(values, torch.tensor([0.5, 0.9])).tolist()
    return lo, hi


def bare_step(preset: zoo.Preset, codes: torch.Tensor, backwards: int = 1) -> float:
    """Seconds for codes -> G -> preprocess -> network, and ``backwards`` backward passes to
    the codes (2: what a fast step with tangent noise needs, the loss and one normal)."""
    codes = codes.detach().requires_grad_(True)
    start = time.perf_counter()
    out = preset.network(preset.preprocess(preset.generator(codes)))
    for i in range(backwards):
        torch.autograd.grad(out[:, UNIT].sum(), codes, retain_graph=i < backwards - 1)
    return time.perf_counter() - start


def bare_forward(preset: zoo.Preset, codes: torch.Tensor) -> float:
    """Seconds of codes -> G -> network under ``torch.no_grad`` (an exploring ess step)."""
    start = time.perf_counter()
    with torch.no_grad():
        preset.network(preset.preprocess(preset.generator(codes)))
    return time.perf_counter() - start


def sampler_steps(
    preset: zoo.Preset, band: tuple[float, float], n: int, **settings
) -> tuple[float, float]:
    """Median seconds per iteration before and after the first K samples (the fast
    sampler's seed phase and fast phase; the ess sampler's first draws and exploring).

    Iterations are timed through the progress callback (called once per iteration).
    """
    f, E = preset.neuron(UNIT), preset.encoder()
    sampler = pipeline.InverseSetSampler(
        preset.generator, E, [(f, *band)], k=K, quantize=True, **settings
    )
    marks: list[tuple[float, int]] = []
    sampler.sample(n, seed=0, progress=lambda done, _: marks.append((time.perf_counter(), done)))
    seed, fast = [], []
    for (t0, _), (t1, done) in zip(marks, marks[1:], strict=False):
        (fast if done > K else seed).append(t1 - t0)
    return statistics.median(seed or [float("nan")]), statistics.median(fast or [float("nan")])


def run(
    n: int = N, repeats: int = REPEATS, only: list[str] | None = None, size: int = 128
) -> list[dict]:
    """Rows: variant, seconds per step, ratio to its bare limit (``only``: a subset of the
    variants; ``size``: the network's input side)."""
    preset = zoo.load("faces", size=size)
    preset.network.eval()
    preset.generator.eval()
    band = observed_band(preset, preset.neuron(UNIT))
    codes = torch.randn(K, preset.generator.code_dim, generator=torch.Generator().manual_seed(1))
    fast = {"method": "fast"}
    paper = {k: v for k, v in pipeline.SamplerConfig.paper().to_dict().items()
             if k not in ("k", "quantize")}
    variants = {
        "fast phase, defaults (tangent noise, normals every 4 steps)": fast,
        "fast phase, normals every step": {**fast, "normals_every": 1},
        "fast phase, no tangent projection": {**fast, "tangent": False},
        "fast phase, paper-literal": {**paper, **fast},
        ESS: {},
    }
    variants = {k: v for k, v in variants.items() if only is None or k in only}
    bare, bare2, forward, seed = [], [], [], []
    steps: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        bare.append(min(bare_step(preset, codes) for _ in range(5)))
        bare2.append(min(bare_step(preset, codes, backwards=2) for _ in range(5)))
        forward.append(min(bare_forward(preset, codes) for _ in range(5)))
        for name, settings in variants.items():
            first, then = sampler_steps(preset, band, n, **settings)
            steps[name].append(then)
            if name != ESS:
                seed.append(first)
    limit, plain = min(bare), min(forward)
    rows = [
        {"variant": "bare G + network forward and backward", "seconds": limit, "ratio": 1.0},
        {"variant": "bare, forward and two backwards (loss + one normal)", "seconds": min(bare2),
         "ratio": min(bare2) / limit},
        {"variant": "bare G + network forward (no_grad)", "seconds": plain, "ratio": plain / limit},
    ]
    if seed:
        rows.append({"variant": "fast sampler's seed phase step", "seconds": min(seed),
                     "ratio": min(seed) / limit})
    for name, values in steps.items():
        base = plain if name == ESS else limit
        rows.append({"variant": name, "seconds": min(values), "ratio": min(values) / base})
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table."""
    lines = ["| step | ms per step (K = 10) | ratio to bare |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {1000 * r['seconds']:.0f} | {r['ratio']:.2f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(table(run()))
