"""DeePSiM / upconv generators (Dosovitskiy & Brox 2016), as used by the paper and by PPGN.

Layer names and shapes follow the published Caffe prototxts of the fc6 and pool5
generators that invert CaffeNet (Nguyen et al.'s PPGN / "upconv" release):

- fc6: defc7, defc6, defc5 (4096 -> 4096 each) -> reshape 256x4x4 -> deconv5 (256, 8 px)
  -> conv5_1 (512) -> deconv4 (256, 16 px) -> conv4_1 (256) -> deconv3 (128, 32 px)
  -> conv3_1 (128) -> deconv2 (64, 64 px) -> deconv1 (32, 128 px) -> deconv0 (3, 256 px).
- pool5: code 256x6x6 -> Rconv6 (512, 3x3 pad 1) -> Rconv7 (512) -> Rconv8 (512, 3x3 no
  pad: 4x4) -> deconv5 (256, 8 px) -> the same stack as fc6.

Every layer but deconv0 is followed by a leaky ReLU of slope 0.3. deconv* are 4x4
stride-2 pad-1 transposed convolutions, conv*_1 are 3x3 stride-1 pad-1 ones (Caffe
Deconvolution layers, hence ConvTranspose2d). The output is a Caffe image: BGR, mean
subtracted, 0..255 scale; :class:`DeePSiMGenerator` turns it into RGB in [0, 1].
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.zoo.cache import resolve_file
from pipeline.zoo.checkpoints import freeze, load_into, read_state_dict, strip_common_prefix

ARCHS = ("fc6", "pool5")
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


def _upconv_stack(scale: int, first_in: int) -> list[tuple[str, nn.Module]]:
    """deconv5 .. deconv0, with channel widths divided by ``scale``."""
    c = [256 // scale, 512 // scale, 128 // scale, 64 // scale, 32 // scale]
    spec = [
        ("deconv5", first_in, c[0], 4, 2),
        ("conv5_1", c[0], c[1], 3, 1),
        ("deconv4", c[1], c[0], 4, 2),
        ("conv4_1", c[0], c[0], 3, 1),
        ("deconv3", c[0], c[2], 4, 2),
        ("conv3_1", c[2], c[2], 3, 1),
        ("deconv2", c[2], c[3], 4, 2),
        ("deconv1", c[3], c[4], 4, 2),
        ("deconv0", c[4], 3, 4, 2),
    ]
    layers: list[tuple[str, nn.Module]] = []
    for name, cin, cout, kernel, stride in spec:
        layers.append((name, nn.ConvTranspose2d(cin, cout, kernel, stride, 1)))
        if name != "deconv0":
            layers.append((f"relu_{name}", nn.LeakyReLU(0.3)))
    return layers


def deepsim_body(arch: str, scale: int = 1) -> nn.Sequential:
    """The raw generator network (Caffe output convention); ``scale`` > 1 divides all widths."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown DeePSiM architecture {arch!r}; valid: {', '.join(ARCHS)}")
    if scale < 1 or 32 % scale:
        raise ConfigError(f"scale={scale} must divide 32 (1 is the published size)")
    fc, wide = 4096 // scale, 512 // scale
    layers: list[tuple[str, nn.Module]] = []
    if arch == "fc6":
        for name in ("defc7", "defc6", "defc5"):
            layers += [(name, nn.Linear(fc, fc)), (f"relu_{name}", nn.LeakyReLU(0.3))]
        layers.append(("reshape", nn.Unflatten(1, (256 // scale, 4, 4))))
        first_in = 256 // scale
    else:
        layers += [
            ("Rconv6", nn.Conv2d(256 // scale, wide, 3, 1, 1)),
            ("Rrelu6", nn.LeakyReLU(0.3)),
            ("Rconv7", nn.Conv2d(wide, wide, 3, 1, 1)),
            ("Rrelu7", nn.LeakyReLU(0.3)),
            ("Rconv8", nn.Conv2d(wide, wide, 3, 1, 0)),
            ("Rrelu8", nn.LeakyReLU(0.3)),
        ]
        first_in = wide
    return nn.Sequential(OrderedDict(layers + _upconv_stack(scale, first_in)))


class DeePSiMGenerator(nn.Module):
    """A DeePSiM generator as a sampler G: codes -> RGB images (n, 3, 256, 256) in [0, 1].

    The fc6 code is CaffeNet's fc6 vector (4096); the pool5 code is CaffeNet's pool5 map
    (256x6x6 = 9216), flattened. The Caffe output (BGR, minus the ImageNet mean, 0..255)
    is flipped to RGB, shifted by the mean, divided by 255 and clamped to [0, 1].
    """

    def __init__(
        self,
        arch: str = "fc6",
        scale: int = 1,
        init_std: float = 1.0,
        code_bounds: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.body = deepsim_body(arch, scale)
        self.code_dim = 4096 // scale if arch == "fc6" else (256 // scale) * 36
        self.init_std = init_std
        self.code_bounds = code_bounds
        mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
        self.register_buffer("mean_rgb", mean, persistent=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """RGB images in [0, 1] for a batch of codes (n, code_dim)."""
        if codes.dim() != 2 or codes.shape[1] != self.code_dim:
            raise ConfigError(
                f"codes must have shape (n, {self.code_dim}), got {tuple(codes.shape)}"
            )
        if self.arch == "pool5":
            codes = codes.view(codes.shape[0], -1, 6, 6)
        bgr = self.body(codes)
        return ((bgr.flip(1) + self.mean_rgb) / 255.0).clamp(0.0, 1.0)


def load_deepsim(
    arch: str,
    source: str | Path,
    sha256: str | None = None,
    cache_dir: str | Path | None = None,
    scale: int = 1,
    init_std: float = 1.0,
    code_bounds: tuple[float, float] | None = None,
) -> DeePSiMGenerator:
    """A frozen DeePSiM generator with weights from a URL or local file (checked by sha256).

    Weights are read with safetensors or ``torch.load(weights_only=True)``; keys are the
    Caffe layer names (``defc7.weight`` ..), optionally under one common prefix.
    """
    generator = DeePSiMGenerator(arch, scale, init_std, code_bounds)
    path = resolve_file(source, sha256, cache_dir)
    state = strip_common_prefix(read_state_dict(path), set(generator.body.state_dict()))
    load_into(generator.body, state, str(path))
    return freeze(generator)
