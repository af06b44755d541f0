"""Code priors p(c) of generators, and the one function that draws random codes from them.

Three kinds, all with independent coordinates centred at zero (or on a box):

- ``normal``: c ~ N(0, scale^2 I), unbounded;
- ``uniform``: c uniform on the box [low, high]^d;
- ``truncated``: N(0, scale^2 I) restricted to the box [low, high]^d.

Every kind is the image of a standard normal z ~ N(0, I) under a coordinate-wise monotone
map (:meth:`Prior.from_normal`); the sampler's target is p(c) restricted to the bands, and
it explores it by elliptical slice sampling in z.
"""

from __future__ import annotations

import functools
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

    @functools.cached_property
    def _cdf_box(self) -> tuple[float, float]:
        """Phi(low / scale), Phi(high / scale): the truncated normal's box in probability
        (computed once per prior: the sampler maps draws through it every iteration)."""
        box = torch.tensor([self.low, self.high], dtype=torch.float64) / self.scale
        lo, hi = torch.special.ndtr(box).tolist()
        return lo, hi

    def from_normal(self, z: torch.Tensor) -> torch.Tensor:
        """The codes T(z) with z ~ N(0, I) mapped coordinate-wise (monotone) so that T(z)
        follows this prior: scaling, or the inverse CDF of the box or truncated normal."""
        if self.kind == "normal":
            return z * self.scale
        p = torch.special.ndtr(z.double())
        if self.kind == "uniform":
            codes = self.low + (self.high - self.low) * p
        else:
            lo, hi = self._cdf_box
            q = (lo + (hi - lo) * p).clamp(1e-300, 1 - 1e-16)
            codes = torch.special.ndtri(q) * self.scale
        return codes.clamp(self.low, self.high).to(z.dtype)

    def to_normal(self, codes: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`from_normal` (codes on the box's faces map to +-8.2)."""
        if self.kind == "normal":
            return codes / self.scale
        c = codes.double()
        if self.kind == "uniform":
            p = (c - self.low) / (self.high - self.low)
        else:
            lo, hi = self._cdf_box
            p = (torch.special.ndtr(c / self.scale) - lo) / (hi - lo)
        return torch.special.ndtri(p.clamp(1e-16, 1 - 1e-16)).to(codes.dtype)

    def describe(self) -> str:
        """A short human-readable form, e.g. ``N(0, 1^2) on [-3, 3]``."""
        if self.kind == "uniform":
            return f"U[{self.low:g}, {self.high:g}]"
        box = f" on [{self.low:g}, {self.high:g}]" if self.kind == "truncated" else ""
        return f"N(0, {self.scale:g}^2){box}"


def draw_codes(prior: Prior, count: int, dim: int, rng: torch.Generator) -> torch.Tensor:
    """``count`` codes of length ``dim`` from ``prior``, drawn from ``rng`` on its device.

    The one place random codes are drawn (sampler, band ranges, grids, benchmarks): standard
    normal draws mapped through :meth:`Prior.from_normal` (exact for every kind). Every
    caller passes a CPU generator, so a seed gives the same codes on every machine, except
    the sampler on a GPU, whose jobs draw on the device (``JobState.draws``).
    """
    return prior.from_normal(torch.randn(count, dim, generator=rng, device=rng.device))
