"""A tiny weight-free preset for smoke tests of a sweep or a cluster (seconds on a CPU).

G is sigmoid pixels (``channels`` x ``size`` x ``size``); the network is a seeded random
conv layer (``conv``, 4 channels) -> tanh (``act``) -> flatten (``flat``, E) -> linear
logits (``fc``, the output layer; ``units`` logistic units before their sigmoid).
``nan_every=m`` puts a ``glitch`` layer first that turns the first input of every m-th
batch into NaN: a network that sometimes emits NaN, for fault tests.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from pipeline.models.generators import PixelGenerator
from pipeline.zoo.preset import Preset


def toy_network(channels: int, size: int, units: int, seed: int) -> nn.Sequential:
    """The toy network, its weights drawn from ``seed`` (the same on every machine)."""
    network = nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(channels, 4, 3, padding=1),
            act=nn.Tanh(),
            flat=nn.Flatten(),
            fc=nn.Linear(4 * size * size, units),
        )
    )
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in network.parameters():
            fan_in = param[0].numel() if param.dim() > 1 else 1
            param.copy_(torch.randn(param.shape, generator=rng) * 2 / fan_in**0.5)
    return network.eval().requires_grad_(False)


class Glitch(nn.Module):
    """Passes inputs through, except that every ``every``-th batch gets a NaN first row."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every, self.calls = every, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``, its first row NaN on every ``every``-th call."""
        self.calls += 1
        if self.calls % self.every:
            return x
        return torch.cat([torch.full_like(x[:1], float("nan")), x[1:]])


def toy_preset(
    device: str | torch.device = "cpu",
    channels: int = 1,
    size: int = 8,
    units: int = 4,
    seed: int = 0,
    nan_every: int = 0,
) -> Preset:
    """The toy preset on ``device`` (``nan_every`` > 0: with the NaN ``glitch`` layer)."""
    network = toy_network(channels, size, units, seed)
    if nan_every > 0:
        layers = OrderedDict(glitch=Glitch(nan_every), **dict(network.named_children()))
        network = nn.Sequential(layers)
    return Preset(
        name="toy",
        generator=PixelGenerator((channels, size, size)).to(device),
        network=network.to(device),
        preprocess=None,
        encoder_layer="flat",
        output_layer="fc",
        labels=[f"unit{i}" for i in range(units)],
        description=f"toy: pixels {channels}x{size}x{size} -> random conv -> {units} logits",
        info={"channels": channels, "size": size, "units": units, "seed": seed,
              "nan_every": nan_every},
    )
