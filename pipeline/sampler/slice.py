"""Elliptical slice sampling of p(c) restricted to the bands, for every prior kind.

Every prior is the image c = T(z) of z ~ N(0, I) under a coordinate-wise monotone map
(:meth:`~pipeline.models.priors.Prior.from_normal`: a scaling for N(0, s^2 I), the inverse
CDF for a box or a truncated normal). The target in z is N(z; 0, I) 1[T(z) in all bands],
a Gaussian times an indicator: elliptical slice sampling (Murray, Adams & MacKay 2010)
leaves it invariant with no step size. Each transition draws nu ~ N(0, I) and moves along
the ellipse z cos t + nu sin t; the bracket starts as [theta - 2 pi, theta] with
theta ~ U(0, 2 pi), the first proposal is at theta, and a proposal outside the bands
shrinks the bracket towards t = 0 (the current point) before the next one (Neal 2003).
With an indicator likelihood the first proposal in band is the next state.

``start(..., bases=...)`` runs the same transition on the orthogonal complement of a span
(:mod:`pipeline.sampler.subspace`): the ellipse is centred on the state's projection onto
the span and its direction nu is projected off it, which leaves N(0, I) restricted to the
bands invariant for any fixed span (the Gaussian factorises over a span and its complement).

Hit-and-run slice sampling on a box prior was tried first and mixed far worse on the
64-d test sets (chords of a cube in d dimensions are short), hence the map.
"""

from __future__ import annotations

import math

import torch

from pipeline.models.priors import Prior
from pipeline.sampler.kernel import Kernel

COLLAPSED = 1e-9


class SliceKernel(Kernel):
    """Per-chain ellipses, brackets and proposals for ``chains`` chains of dimension ``dim``."""

    adaptive = False  # no step size: a chain from an exact prior draw needs no burn-in
    wants_gradients = False  # forward passes only

    def __init__(
        self, prior: Prior, chains: int, dim: int, rng: torch.Generator, device: torch.device
    ) -> None:
        self.prior, self.rng, self.device = prior, rng, device
        self.current = torch.zeros(chains, dim, device=device)
        self.center = torch.zeros(chains, dim, device=device)
        self.nu = torch.zeros(chains, dim, device=device)
        self.lo = torch.zeros(chains, device=device)
        self.hi = torch.zeros(chains, device=device)
        self.t = torch.zeros(chains, device=device)

    def _rand(self, count: int) -> torch.Tensor:
        return torch.rand(count, generator=self.rng, dtype=torch.float64,
                          device=self.rng.device).to(self.device)

    def start(
        self, rows: torch.Tensor, codes: torch.Tensor, bases: torch.Tensor | None = None
    ) -> None:
        """Begin a new transition of ``rows`` (indices) from ``codes`` (in band); with
        ``bases`` (``(len(rows), dim, r)``, orthonormal or zero columns) only the part of
        the state orthogonal to their span moves."""
        if not len(rows):
            return
        z = self.prior.to_normal(codes)
        noise = torch.randn(len(rows), self.nu.shape[1], generator=self.rng,
                            device=self.rng.device).to(self.device)
        center = torch.zeros_like(z)
        if bases is not None:
            center = project(z, bases)
            noise = noise - project(noise, bases)
        self.center[rows], self.current[rows], self.nu[rows] = center, z - center, noise
        theta = (self._rand(len(rows)) * 2 * math.pi).float()
        self.lo[rows], self.hi[rows], self.t[rows] = theta - 2 * math.pi, theta, theta

    def reject(self, rows: torch.Tensor) -> None:
        """Shrink the brackets of ``rows`` towards the current point and propose again; a
        collapsed bracket proposes the current point itself."""
        if not len(rows):
            return
        t = self.t[rows]
        lo = torch.where(t < 0, t, self.lo[rows])
        hi = torch.where(t >= 0, t, self.hi[rows])
        width = hi - lo
        draw = lo + width * self._rand(len(rows)).float()
        self.lo[rows], self.hi[rows] = lo, hi
        self.t[rows] = torch.where(width < COLLAPSED, 0.0, draw)

    def normal_proposals(self) -> torch.Tensor:
        """The proposals in normal coordinates: center + z cos t + nu sin t."""
        t = self.t[:, None]
        return self.center + self.current * torch.cos(t) + self.nu * torch.sin(t)

    def proposals(self) -> torch.Tensor:
        """The codes to evaluate: T(center + z cos t + nu sin t) for every chain."""
        return self.prior.from_normal(self.normal_proposals())

    def observe(
        self, rows: torch.Tensor, ok: torch.Tensor, view: object, lo: torch.Tensor,
        hi: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """After evaluating the proposals of ``rows`` (bool): the first in band ends the
        transition there (ended = moved); the others shrink their brackets."""
        self.reject((rows & ~ok).nonzero().flatten())
        return rows & ok, rows & ok

    def observed(
        self, rows: list[int], view: object, hits: list[bool], lo: torch.Tensor,
        hi: torch.Tensor, burn: list[int],
    ) -> tuple[set[int], set[int]]:
        """:meth:`observe` from the host lists alone (no mask built or read back): the chains
        of ``rows`` in band end their transition there (ended = moved)."""
        missed = [i for i in rows if not hits[i]]
        if missed:
            self.reject(torch.tensor(missed, dtype=torch.long, device=self.device))
        ended = {i for i in rows if hits[i]}
        return ended, ended


def project(x: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Row-wise orthogonal projection of ``x`` (``(m, dim)``) onto the span of ``bases``
    (``(m, dim, r)``, orthonormal columns or zero ones)."""
    return torch.einsum("mdr,mr->md", bases, torch.einsum("mdr,md->mr", bases, x))
