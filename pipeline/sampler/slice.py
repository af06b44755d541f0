"""Slice-sampling kernels whose stationary distribution is p(c) restricted to the bands.

Both kernels move each chain along a one-dimensional curve through its current code c,
parameterised by t (t = 0 is c), propose t uniformly in a bracket, accept if the proposal
lies in every band, and otherwise shrink the bracket towards 0 (Neal 2003, section 4.2).
With an indicator likelihood the slice is the in-band part of the curve, so the first
proposal in band is the next state; the shrinking never needs a step size.

- Gaussian priors (normal, truncated): elliptical slice sampling (Murray, Adams & MacKay
  2010). The curve is c cos t + nu sin t with nu ~ N(0, s^2 I); the bracket starts as
  [theta - 2 pi, theta] with theta ~ U(0, 2 pi) and the first proposal is at theta. A
  truncation box is part of the indicator: proposals outside it are rejected (and the
  bracket shrunk) without evaluating the network.
- Box priors (uniform): hit-and-run slice sampling. The curve is c + t d with d uniform on
  the sphere; the bracket is the chord of the box through c.
"""

from __future__ import annotations

import math

import torch

from pipeline.models.priors import Prior

MAX_BOX_SHRINKS = 60
COLLAPSED = 1e-9


class SliceKernel:
    """Per-chain curves, brackets and proposals for ``chains`` chains of dimension ``dim``."""

    def __init__(self, prior: Prior, chains: int, dim: int, rng: torch.Generator,
                 device: torch.device) -> None:
        self.prior, self.rng, self.device = prior, rng, device
        self.current = torch.zeros(chains, dim, device=device)
        self.aux = torch.zeros(chains, dim, device=device)
        self.lo = torch.zeros(chains, device=device)
        self.hi = torch.zeros(chains, device=device)
        self.t = torch.zeros(chains, device=device)

    def _rand(self, count: int) -> torch.Tensor:
        return torch.rand(count, generator=self.rng, dtype=torch.float64).to(self.device)

    def _randn(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.aux.shape[1], generator=self.rng).to(self.device)

    def start(self, rows: torch.Tensor, codes: torch.Tensor) -> None:
        """Begin a new transition of ``rows`` (indices) from ``codes`` (in band)."""
        if not len(rows):
            return
        self.current[rows] = codes
        if self.prior.gaussian:
            self.aux[rows] = self._randn(len(rows)) * self.prior.scale
            theta = self._rand(len(rows)) * 2 * math.pi
            self.lo[rows], self.hi[rows] = (theta - 2 * math.pi).float(), theta.float()
            self.t[rows] = theta.float()
        else:
            d = self._randn(len(rows))
            self.aux[rows] = d / d.norm(dim=1, keepdim=True).clamp(min=1e-12)
            self.lo[rows], self.hi[rows] = self._chord(codes, self.aux[rows])
            self._draw(rows)
        self._into_box(rows)

    def reject(self, rows: torch.Tensor) -> None:
        """Shrink the brackets of ``rows`` towards the current point and propose again."""
        if not len(rows):
            return
        t = self.t[rows]
        self.lo[rows] = torch.where(t < 0, t, self.lo[rows])
        self.hi[rows] = torch.where(t >= 0, t, self.hi[rows])
        self._draw(rows)
        self._into_box(rows)

    def proposals(self) -> torch.Tensor:
        """The codes to evaluate: every chain's point at its proposed t."""
        return self._point(torch.arange(self.t.shape[0], device=self.device))

    def _point(self, rows: torch.Tensor) -> torch.Tensor:
        t = self.t[rows][:, None]
        if self.prior.gaussian:
            return self.current[rows] * torch.cos(t) + self.aux[rows] * torch.sin(t)
        return (self.current[rows] + t * self.aux[rows]).clamp(self.prior.low, self.prior.high)

    def _draw(self, rows: torch.Tensor) -> None:
        """t uniform in each bracket; a collapsed bracket proposes the current point."""
        lo, hi = self.lo[rows], self.hi[rows]
        t = lo + (hi - lo) * self._rand(len(rows)).float()
        self.t[rows] = torch.where(hi - lo < COLLAPSED, torch.zeros_like(t), t)

    def _into_box(self, rows: torch.Tensor) -> None:
        """Reject (and shrink) proposals outside a truncated prior's box without evaluating
        them; after MAX_BOX_SHRINKS the current point itself is proposed."""
        if self.prior.kind != "truncated":
            return
        for _ in range(MAX_BOX_SHRINKS):
            outside = rows[~self.prior.inside(self._point(rows))]
            if not len(outside):
                return
            t = self.t[outside]
            self.lo[outside] = torch.where(t < 0, t, self.lo[outside])
            self.hi[outside] = torch.where(t >= 0, t, self.hi[outside])
            self._draw(outside)
        self.t[rows[~self.prior.inside(self._point(rows))]] = 0.0

    def _chord(self, codes: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The t-interval where codes + t d stays inside the prior's box."""
        safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
        a = (self.prior.low - codes) / safe
        b = (self.prior.high - codes) / safe
        lo = torch.minimum(a, b).max(dim=1).values.clamp(max=0)
        hi = torch.maximum(a, b).min(dim=1).values.clamp(min=0)
        return lo, hi
