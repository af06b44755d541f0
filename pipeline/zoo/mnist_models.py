"""Architectures of the ``mnist`` preset: a small CNN, its feature inverter, and a critic.

The classifier's ``relu6`` output (the fc6-like hidden layer, after ReLU) is both the
encoder E and the code of the generator, as CaffeNet fc6 is for the paper's DeePSiM G.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from pipeline.errors import ConfigError

HIDDEN = 128


def digit_classifier(hidden: int = HIDDEN) -> nn.Sequential:
    """Two 3x3 conv blocks (32, 64 channels, max-pool) -> fc6 (hidden) -> relu6 -> fc7 (10)."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, 32, 3, padding=1)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(32, 64, 3, padding=1)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc6", nn.Linear(64 * 7 * 7, hidden)),
                ("relu6", nn.ReLU()),
                ("drop6", nn.Dropout(0.3)),
                ("fc7", nn.Linear(hidden, 10)),
            ]
        )
    )


class FeatureInverter(nn.Module):
    """G: a relu6 feature vector (n, code_dim) -> a digit image (n, 1, 28, 28) in [0, 1].

    ``code_bounds`` is ``(0, code_max)``: the codes are non-negative ReLU features, and
    ``code_max`` is the largest value seen on the training digits. ``init_std`` is their
    standard deviation, so that initial codes N(0, init_std^2) clipped to the bounds are
    sparse and of the right scale.
    """

    def __init__(
        self, code_dim: int = HIDDEN, code_max: float = 1.0, init_std: float = 1.0
    ) -> None:
        super().__init__()
        self.code_dim = code_dim
        self.init_std = float(init_std)
        self.code_bounds = (0.0, float(code_max))
        self.body = nn.Sequential(
            OrderedDict(
                [
                    ("fc", nn.Linear(code_dim, 64 * 7 * 7)),
                    ("act0", nn.LeakyReLU(0.2)),
                    ("unflatten", nn.Unflatten(1, (64, 7, 7))),
                    ("deconv1", nn.ConvTranspose2d(64, 64, 4, 2, 1)),
                    ("act1", nn.LeakyReLU(0.2)),
                    ("conv1", nn.Conv2d(64, 32, 3, padding=1)),
                    ("act2", nn.LeakyReLU(0.2)),
                    ("deconv2", nn.ConvTranspose2d(32, 16, 4, 2, 1)),
                    ("act3", nn.LeakyReLU(0.2)),
                    ("conv2", nn.Conv2d(16, 1, 3, padding=1)),
                    ("out", nn.Sigmoid()),
                ]
            )
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for a batch of codes."""
        if codes.dim() != 2 or codes.shape[1] != self.code_dim:
            raise ConfigError(
                f"codes must have shape (n, {self.code_dim}), got {tuple(codes.shape)}"
            )
        return self.body(codes)


class PairCritic(nn.Module):
    """The training-only discriminator D(x, code): is x a real digit with this feature vector?"""

    def __init__(self, code_dim: int = HIDDEN) -> None:
        super().__init__()
        self.image = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 256),
            nn.LeakyReLU(0.2),
        )
        self.code = nn.Sequential(nn.Linear(code_dim, 256), nn.LeakyReLU(0.2))
        self.head = nn.Linear(512, 1)

    def forward(self, images: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """One logit per pair (n,)."""
        return self.head(torch.cat([self.image(images), self.code(codes)], dim=1)).squeeze(1)
