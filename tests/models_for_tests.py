"""Small models whose answers are known, shared by the tests."""

from __future__ import annotations

import math

import torch
from torch import nn

import pipeline


class Counting(nn.Module):
    """Wraps a module and counts how often it runs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


def logistic_unit(d: int = 64, seed: int = 0) -> tuple[nn.Module, torch.Tensor, float]:
    """The paper's example: sigma(w.x + c) on x in [0, 1]^d, centred so that half the cube
    lies on each side. Returns the model (the unit is layer "2", unit 0), w and c."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=gen)
    c = -0.5 * float(w.sum())
    linear = nn.Linear(d, 1)
    with torch.no_grad():
        linear.weight.copy_(w[None])
        linear.bias.fill_(c)
    return nn.Sequential(nn.Flatten(), linear, nn.Sigmoid()), w, c


def logit(p: float) -> float:
    """sigma^-1(p)."""
    return math.log(p / (1 - p))


def small_cnn(seed: int = 0) -> nn.Module:
    """A random conv net on 3 x 16 x 16 images with a 5-way linear head."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(128, 5),
    )


def pixel_generator(shape: tuple[int, ...]) -> pipeline.PixelGenerator:
    """G: sigmoid pixels."""
    return pipeline.PixelGenerator(shape)
