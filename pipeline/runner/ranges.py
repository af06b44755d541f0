"""Relative bands -> absolute ones, from each neuron's activation range over random codes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.generators import random_codes
from pipeline.models.readout import Readout
from pipeline.runner.job import BandSpec


def observed_ranges(
    generator: nn.Module,
    neurons: Sequence,
    count: int,
    seed: int,
    device: torch.device,
    batch: int = 64,
) -> torch.Tensor:
    """``(p, 2)``: min and max of each neuron over ``count`` random codes through G (over
    the finite activations; a neuron with none gets ``(inf, -inf)``)."""
    readout = Readout(list(neurons))
    lows, highs = [], []
    codes = random_codes(generator, count, seed)
    with torch.no_grad():
        for start in range(0, count, batch):
            acts, _ = readout(generator(codes[start : start + batch].to(device)))
            finite = torch.isfinite(acts)  # a NaN or inf reading is left out, not propagated
            lows.append(acts.where(finite, torch.inf).min(dim=0).values)
            highs.append(acts.where(finite, -torch.inf).max(dim=0).values)
    low, high = torch.stack(lows).min(dim=0).values, torch.stack(highs).max(dim=0).values
    return torch.stack([low, high], dim=1).cpu()


def to_absolute(band: BandSpec, observed: tuple[float, float], name: str) -> tuple[float, float]:
    """``band`` as activations: relative bounds map 0 -> observed min and 1 -> observed max."""
    if band.scale == "absolute":
        return band.lo, band.hi
    low, high = observed
    if not math.isfinite(low) or not math.isfinite(high):
        raise ConfigError(
            f"neuron {name} gave no finite activation over {band.codes} random codes; check the "
            "network, or use absolute bands for it"
        )
    if not high > low:
        raise ConfigError(
            f"neuron {name} is constant ({low:g}) over {band.codes} random codes; a relative band "
            "needs a range: use absolute bands for it"
        )
    width = high - low
    return low + band.lo * width, low + band.hi * width
