"""The paper's figures 3 and 6 with the model zoo (run by ``python -m bench.figures``).

- Figure 3: a hidden convolutional channel of MobileNetV2 at two bands, faces G.
- Figure 6: another network, EfficientNet-Lite0 (its logits), with the same faces G.

Both bands come from the neuron's values over 256 random faces (seed 0): a lower band
between two quantiles, and an upper band of the same width starting at the 99% quantile,
which the prior reaches about once in a hundred draws (the paper's second band, like its
first, is above what its G usually gives). The quantiles are printed beside the table.
"""

from __future__ import annotations

from collections import Counter

import torch

from bench.common import observed
from bench.figure_kit import Context, Run, numbers, shown
from pipeline import zoo

HIDDEN_LAYER, HIDDEN_CHANNEL = "features.13", 23
LOGIT = "sunglasses"
QUANTILES = (0.5, 0.75, 0.9, 0.99)
PRIOR_DRAWS = 256


def quantiles(values: torch.Tensor) -> list[float]:
    """The :data:`QUANTILES` of ``values``, rounded to 2 decimals."""
    return [round(v, 2) for v in torch.quantile(values, torch.tensor(QUANTILES)).tolist()]


def bands_of(values: torch.Tensor, lower: tuple[float, float]) -> list[tuple[float, float]]:
    """The band between the ``lower`` quantiles, and one as wide from the 99% quantile up."""
    lo, hi, top = (round(v, 2) for v in torch.quantile(
        values, torch.tensor([*lower, 0.99])).tolist())
    return [(lo, hi), (top, round(top + hi - lo, 2))]


def describe(values: torch.Tensor) -> str:
    """One line: the quantiles and maximum of a neuron over the random faces."""
    cells = ", ".join(f"{100 * q:g}%: {v:.2f}"
                      for q, v in zip(QUANTILES, quantiles(values), strict=True))
    return f"over {values.shape[0]} random faces: {cells}, max {float(values.max()):.2f}"


def two_bands(ctx: Context, preset: zoo.Preset, f, lower: tuple[float, float],
              name: str) -> tuple[list, list[Run], str]:
    """One default job (n = 50) per band of :func:`bands_of`, two image rows (20 samples)
    per band, and the line saying where the bands come from."""
    values = observed(preset.generator, f, PRIOR_DRAWS).float()
    rows, runs = [], []
    for lo, hi in bands_of(values, lower):
        run = ctx.sample(f"{name} [{lo:g}, {hi:g}]", preset, [(f, lo, hi)], ctx.n(50))
        twenty = shown(run.result, 2 * 10)
        rows += [twenty[:10], twenty[10:]]
        runs.append(run)
    return rows, runs, f"{name} {describe(values)}."


def fig3(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """A hidden neuron at two bands: channel 23 of features.13 (MobileNetV2's last 8x8
    block at 128 px; the channel whose centre value varies most over 256 random faces),
    read at the centre, between its 75% and 90% quantiles over random faces and in a band
    as wide from its 99% quantile up, n = 50 each; rows 1-2 the lower band, rows 3-4 the
    upper."""
    faces = ctx.preset("faces")
    f = faces.neuron(HIDDEN_CHANNEL, layer=HIDDEN_LAYER)
    rows, runs, prior = two_bands(ctx, faces, f, (0.75, 0.9), f.name)
    return rows, numbers(runs) + f"\n\n{prior}"


@torch.no_grad()
def top_classes(preset: zoo.Preset, inputs: torch.Tensor, count: int = 3) -> str:
    """The network's most frequent top-1 classes on ``inputs``, with their counts."""
    if inputs.shape[0] == 0:
        return "no samples"
    top = preset.network(preset.preprocess(inputs)).argmax(dim=1).tolist()
    common = Counter(top).most_common(count)
    return ", ".join(f"{preset.labels[unit]} {seen}" for unit, seen in common)


def fig6(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Another network: EfficientNet-Lite0 (ImageNet-1k) with the faces G, its
    "sunglasses" logit in a typical band (its 50-75% quantiles over random faces) and a
    high one as wide from its 99% quantile up, n = 50 each; E is EfficientNet-Lite0's own
    last feature map; rows 1-2 the typical band, rows 3-4 the high one."""
    preset = ctx.preset("faces-efficientnet")
    f = preset.neuron(LOGIT)
    rows, runs, prior = two_bands(ctx, preset, f, (0.5, 0.75), "sunglasses")
    tops = "\n".join(f"- {r.label}: {top_classes(preset, r.result.inputs)}" for r in runs)
    text = (numbers(runs) + f"\n\nThe EfficientNet-Lite0 logit {prior}\n\n"
            f"EfficientNet-Lite0's top-1 class on the samples (most frequent 3):\n\n{tops}")
    return rows, text
