"""Seeded random transforms (jitter, scale) applied to G(c) during optimisation only."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pipeline.errors import ConfigError


class RandomTransforms:
    """Random jitter (integer shifts, reflect-padded) and scaling of an image batch.

    Used to make the optimisation robust, as in Lucid. The draws come from the
    ``generator`` passed at call time, so a job's transforms are reproducible from its
    seed. Stored and verified samples are always the untransformed G(c).
    """

    def __init__(self, jitter: int = 4, scales: Sequence[float] = (1.0,)) -> None:
        if jitter < 0 or not scales or any(s <= 0 for s in scales):
            raise ConfigError(f"need jitter >= 0 and positive scales, got {jitter}, {scales}")
        self.jitter = int(jitter)
        self.scales = [float(s) for s in scales]

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Transform a batch ``(n, C, H, W)``; every image gets its own shift."""
        height, width = images.shape[-2:]
        scale = self.scales[int(torch.randint(len(self.scales), (1,), generator=generator))]
        if scale != 1.0:
            images = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False)
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
