"""MobileNetV2 (ImageNet-1k) without torchvision: the same modules, names and operations.

Importing torchvision costs seconds of CPU in every sweep actor of the ``faces`` and
``imagenet`` presets (it imports ``torch._dynamo`` and sympy through ``torchvision.ops``),
for one architecture. This is torchvision's ``mobilenet_v2`` at width 1.0 built from
plain ``torch.nn`` modules: the same module tree (``features.0.0`` ... ``features.18``,
``classifier.1``), so its state dict, layer names and outputs are those of torchvision's
(``tests/test_zoo_mobilenet.py`` checks bit-identical outputs on the same weights).
"""

from __future__ import annotations

import torch
from torch import nn

# t (expansion), c (output channels), n (blocks), s (first block's stride)
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))


def conv_bn_relu6(inp: int, out: int, kernel: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    """Conv2d (no bias, "same" padding) -> BatchNorm2d -> ReLU6 (in place), as children
    ``0``, ``1``, ``2`` (torchvision's ``Conv2dNormActivation``)."""
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand (1x1, unless ``expand`` is 1) -> depthwise 3x3 -> project (1x1, linear), in
    ``conv``; the input is added back when the shape is kept."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand))
        self.use_res_connect = stride == 1 and inp == out
        layers = [conv_bn_relu6(inp, hidden, kernel=1)] if expand != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output (with the residual where the shape is kept)."""
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """``features`` (19 stages, 1280 channels at the end) -> global mean -> ``classifier``
    (dropout 0.2, linear to ``classes`` logits)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        features: list[nn.Module] = [conv_bn_relu6(3, 32, stride=2)]
        inp = 32
        for expand, out, count, stride in SETTING:
            for i in range(count):
                features.append(InvertedResidual(inp, out, stride if i == 0 else 1, expand))
                inp = out
        features.append(conv_bn_relu6(inp, 1280, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(1280, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of normalised images (n, 3, h, w)."""
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))
