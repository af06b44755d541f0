"""Glue between a generator's output and a network's input: resize, then normalise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResizeNormalize(nn.Module):
    """Map images in [0, 1] to a network's input: bilinear resize to ``size``, then normalise.

    Normalising is (x - mean) / std per channel; ``size=None`` keeps the resolution. The
    module is differentiable, holds no parameters, and follows the device of its input
    (mean and std are buffers).
    """

    def __init__(self, size: int | None, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError("mean and std need one entry per channel and std > 0")
        self.size = size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Resize (if the size differs) and normalise a batch ``(n, C, H, W)``."""
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def imagenet_glue(size: int | None) -> ResizeNormalize:
    """Resize to ``size`` and apply the ImageNet mean/std of torchvision's classifiers."""
    return ResizeNormalize(size, IMAGENET_MEAN, IMAGENET_STD)
