"""The generator contract, and built-in generators G: code c -> input x = G(c).

A generator (:class:`Generator`) has ``code_dim`` (the length of c), ``prior`` (the code
prior p(c), a :class:`~pipeline.models.priors.Prior`) and ``code_bounds`` (the prior's
box, ``None``: unbounded codes). :func:`code_prior` resolves the prior of any G, including
plain callables given a ``code_dim``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.priors import Prior, draw_codes


@runtime_checkable
class Generator(Protocol):
    """What the sampler needs of G: codes ``(n, code_dim)`` -> inputs, and the code prior."""

    code_dim: int
    prior: Prior

    @property
    def code_bounds(self) -> tuple[float, float] | None:
        """The prior's code box (``None``: unbounded)."""

    def __call__(self, codes: torch.Tensor) -> torch.Tensor:
        """G(c) for a batch of codes."""


def code_prior(
    generator: Callable[[torch.Tensor], torch.Tensor],
    code_dim: int | None = None,
    prior: Prior | None = None,
) -> tuple[int, Prior]:
    """``(code_dim, prior)`` of ``generator``; explicit arguments win over its attributes.

    A generator without a declared ``prior`` gets N(0, init_std^2) (default 1), restricted
    to its ``code_bounds`` if it has them.
    """
    dim = code_dim if code_dim is not None else getattr(generator, "code_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ConfigError(
            f"the generator has no usable code_dim ({dim!r}); give it an int attribute "
            "code_dim or pass code_dim=... (and optionally prior=...) to the sampler"
        )
    prior = prior or getattr(generator, "prior", None)
    if prior is None:
        scale = float(getattr(generator, "init_std", 1.0) or 1.0)
        bounds = getattr(generator, "code_bounds", None)
        prior = Prior.truncated(scale, *bounds) if bounds else Prior.normal(scale)
    if not isinstance(prior, Prior):
        raise ConfigError(f"prior must be a pipeline.models.priors.Prior, got {prior!r}")
    return dim, prior


def random_codes(
    generator: Callable[[torch.Tensor], torch.Tensor], count: int, seed: int | torch.Generator
) -> torch.Tensor:
    """``count`` codes from ``generator``'s prior, on the CPU (the same on every device);
    ``seed`` is an int or a ``torch.Generator`` to draw from."""
    rng = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    dim, prior = code_prior(generator)
    return draw_codes(prior, count, dim, rng)

# Square root of the colour correlation of natural images (Lucid's published ImageNet
# statistics), used to decorrelate colour channels.
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


class PixelGenerator(nn.Module):
    """Pixels through a sigmoid: ``x = sigmoid(c)`` reshaped to ``shape``; x in [0, 1].

    Prior: c ~ N(0, I), so each pixel is logit-normal around grey.
    """

    prior = Prior.normal(1.0)
    code_bounds = None

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        if not shape or any(int(s) <= 0 for s in shape):
            raise ConfigError(f"PixelGenerator shape must be positive ints, got {shape!r}")
        self.shape = tuple(int(s) for s in shape)
        self.code_dim = math.prod(self.shape)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """G(c): map codes ``(n, code_dim)`` to inputs ``(n, *shape)`` in [0, 1]."""
        return torch.sigmoid(codes).reshape(codes.shape[0], *self.shape)


class FourierGenerator(nn.Module):
    """A Fourier, colour-decorrelated image parameterisation (as in Lucid).

    The code holds the real and imaginary parts of each channel's 2-D spectrum, scaled
    by ``1 / frequency^decay`` so that low frequencies dominate; the inverse FFT gives
    decorrelated colour channels, mixed back with the colour correlation matrix and
    squashed to [0, 1] with a sigmoid. Prior: c ~ N(0, prior_std^2 I); the default 0.01
    is Lucid's initial scale, whose draws are flat grey images (pixel standard deviation
    0.003); ``prior_std=1.0`` gives coloured 1/f noise with the pixel contrast of natural
    images (standard deviation about 0.24).
    """

    code_bounds = None

    def __init__(
        self,
        size: int,
        channels: int = 3,
        decay: float = 1.0,
        decorrelate: bool = True,
        prior_std: float = 0.01,
    ) -> None:
        super().__init__()
        if size < 2 or channels < 1:
            raise ConfigError(
                f"FourierGenerator needs size >= 2 and channels >= 1, got {size}, {channels}"
            )
        if decorrelate and channels != 3:
            raise ConfigError("colour decorrelation needs channels=3; pass decorrelate=False")
        self.prior = Prior.normal(prior_std)
        self.size, self.channels, self.decorrelate = size, channels, decorrelate
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        freq = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / size)
        # 1/4: Lucid's constant keeping the image before the sigmoid near unit scale
        self.register_buffer("scale", (1.0 / freq**decay) / 4.0, persistent=False)
        color = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()
        self.register_buffer("color", color, persistent=False)
        self.spectrum_shape = (channels, size, size // 2 + 1, 2)
        self.code_dim = math.prod(self.spectrum_shape)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """G(c): map spectra ``(n, code_dim)`` to images ``(n, channels, size, size)``."""
        spec = codes.reshape(codes.shape[0], *self.spectrum_shape)
        spec = torch.view_as_complex(spec.contiguous()) * self.scale
        image = torch.fft.irfft2(spec, s=(self.size, self.size), norm="ortho")
        if self.decorrelate:
            image = torch.einsum("nchw,dc->ndhw", image, self.color)
        return torch.sigmoid(image)
