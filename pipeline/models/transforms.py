"""Seeded random transforms (jitter, scale, rotation) applied to G(c) in gradient steps only."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pipeline.errors import ConfigError


class RandomTransforms:
    """Random scaling, rotation and jitter (integer shifts, reflect-padded) of an image batch.

    Transformation robustness, as in Lucid: the gradient steps of the seed phase read the
    network on a randomly moved copy of G(c), so a seed must hold its activation under
    small moves, which suppresses pixel-exact high-frequency patterns. ``jitter``: largest
    shift in pixels; ``scales``: one is drawn per batch; ``rotate``: largest rotation in
    degrees (each image its own angle, uniform in [-rotate, rotate]). The draws come from
    the ``generator`` passed at call time, so a job's transforms are reproducible from its
    seed. Band checks, exploration, stored and verified samples always read the
    untransformed G(c), so the sampled target does not depend on the transforms.
    """

    def __init__(self, jitter: int = 4, scales: Sequence[float] = (1.0,), rotate: float = 0.0):
        if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 0:
            raise ConfigError(f"transform jitter must be an int >= 0 (pixels), got {jitter!r}")
        if not scales or any(not isinstance(s, (int, float)) or s <= 0 for s in scales):
            raise ConfigError(f"transform scales must be positive numbers, got {scales!r}")
        if not isinstance(rotate, (int, float)) or not 0 <= rotate <= 180:
            raise ConfigError(f"transform rotate must be in [0, 180] degrees, got {rotate!r}")
        self.jitter = int(jitter)
        self.scales = [float(s) for s in scales]
        self.rotate = float(rotate)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Transform a batch ``(n, C, H, W)``; every image gets its own shift and angle."""
        height, width = images.shape[-2:]
        scale = self.scales[int(torch.randint(len(self.scales), (1,), generator=generator))]
        if scale != 1.0:
            images = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False)
        if self.rotate:
            images = _rotated(images, self.rotate, generator)
        j = self.jitter
        if j:
            images = F.pad(images, (j, j, j, j), mode="reflect")
        offsets = torch.randint(0, 2 * j + 1, (images.shape[0], 2), generator=generator).tolist()
        h, w = images.shape[-2:]
        crops = []
        for img, (dy, dx) in zip(images, offsets, strict=True):
            top = min(dy, max(h - height, 0))
            left = min(dx, max(w - width, 0))
            crops.append(img[:, top : top + height, left : left + width])
        out = torch.stack(crops)
        if out.shape[-2:] != (height, width):
            out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
        return out


def _rotated(images: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Each image rotated about its centre by its own angle in [-degrees, degrees]
    (bilinear, reflected at the border; differentiable)."""
    angles = (torch.rand(images.shape[0], generator=generator) * 2 - 1) * math.radians(degrees)
    cos, sin, zero = angles.cos(), angles.sin(), torch.zeros_like(angles)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="reflection", align_corners=False)
