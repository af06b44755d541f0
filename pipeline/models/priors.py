"""Code priors p(c) of generators, and the one function that draws random codes from them.

Three kinds, all with independent coordinates centred at zero (or on a box):

- ``normal``: c ~ N(0, scale^2 I), unbounded;
- ``uniform``: c uniform on the box [low, high]^d;
- ``truncated``: N(0, scale^2 I) restricted to the box [low, high]^d.

The sampler's target is p(c) restricted to the bands, so the prior is part of the method:
elliptical slice sampling explores the Gaussian kinds (the box, if any, is part of the
indicator), hit-and-run slice sampling the uniform one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pipeline.errors import ConfigError

KINDS = ("normal", "uniform", "truncated")


@dataclass(frozen=True)
class Prior:
    """A code prior: ``kind`` in :data:`KINDS`, Gaussian ``scale``, box ``[low, high]``."""

    kind: str
    scale: float = 1.0
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"prior kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind != "uniform" and not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"prior scale must be a positive number, got {self.scale!r}")
        boxed = self.low is not None and self.high is not None
        if self.kind != "normal" and not (boxed and self.low < self.high):
            raise ConfigError(
                f"a {self.kind} prior needs a box low < high, got [{self.low}, {self.high}]"
            )

    @classmethod
    def normal(cls, scale: float = 1.0) -> Prior:
        """N(0, scale^2 I)."""
        return cls("normal", float(scale))

    @classmethod
    def uniform(cls, low: float, high: float) -> Prior:
        """Uniform on the box [low, high]^d."""
        return cls("uniform", 1.0, float(low), float(high))

    @classmethod
    def truncated(cls, scale: float, low: float, high: float) -> Prior:
        """N(0, scale^2 I) restricted to the box [low, high]^d."""
        return cls("truncated", float(scale), float(low), float(high))

    @property
    def gaussian(self) -> bool:
        """Whether the prior is a (possibly truncated) centred Gaussian."""
        return self.kind != "uniform"

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The code box, or None when codes are unbounded."""
        return None if self.kind == "normal" else (float(self.low), float(self.high))

    def inside(self, codes: torch.Tensor) -> torch.Tensor:
        """Per row, whether the code lies in the prior's support."""
        if self.bounds is None:
            return torch.ones(codes.shape[0], dtype=torch.bool, device=codes.device)
        return ((codes >= self.low) & (codes <= self.high)).all(dim=1)

    def describe(self) -> str:
        """A short human-readable form, e.g. ``N(0, 1^2) on [-3, 3]``."""
        if self.kind == "uniform":
            return f"U[{self.low:g}, {self.high:g}]"
        box = f" on [{self.low:g}, {self.high:g}]" if self.kind == "truncated" else ""
        return f"N(0, {self.scale:g}^2){box}"


def draw_codes(prior: Prior, count: int, dim: int, rng: torch.Generator) -> torch.Tensor:
    """``count`` codes of length ``dim`` from ``prior``, drawn on the CPU from ``rng``.

    The one place random codes are drawn (sampler, band ranges, grids, benchmarks), so the
    same seed gives the same codes on every device. Truncated normals are drawn exactly by
    the inverse CDF.
    """
    if prior.kind == "normal":
        return torch.randn(count, dim, generator=rng) * prior.scale
    u = torch.rand(count, dim, generator=rng, dtype=torch.float64)
    if prior.kind == "uniform":
        return (prior.low + (prior.high - prior.low) * u).float()
    box = torch.tensor([prior.low, prior.high], dtype=torch.float64)
    cdf = torch.special.ndtr(box / prior.scale)
    p = (cdf[0] + (cdf[1] - cdf[0]) * u).clamp(1e-300, 1 - 1e-16)
    codes = torch.special.ndtri(p) * prior.scale
    return codes.clamp(prior.low, prior.high).float()
