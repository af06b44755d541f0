"""Seed steps in the prior's normal coordinates (``seed_step="normal"``).

Adam normalises each coordinate of the code on its own, so every step moves all d
coordinates by about ``lr`` (sign descent): on a 49,920-d Fourier code with prior
N(0, 0.01^2 I) the seeds end with normal coordinates of norm 500-2500 against the prior's
sqrt(d) = 223. This optimiser instead moves z = T^-1(c) (:meth:`Prior.to_normal`) along
the normalised gradient in z, by ``size`` x sqrt(d) per step: the move follows the
gradient's direction, not its signs, so coordinates the loss hardly depends on stay near
their prior draw.
"""

from __future__ import annotations

import math

import torch

from pipeline.models.priors import Prior


class NormalStep:
    """Normalised gradient descent on z, one step length per call for every row."""

    def __init__(self, prior: Prior, size: float) -> None:
        self.prior, self.size = prior, size

    def step(
        self, codes: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Codes after one step of ``rows`` (bool; all if None) along ``-grad`` (in c)
        mapped to z by the chain rule through the coordinate-wise T; rows whose gradient
        vanishes stay."""
        z = self.prior.to_normal(codes).detach().requires_grad_(True)
        with torch.enable_grad():
            (jac,) = torch.autograd.grad(self.prior.from_normal(z).sum(), z)
        g = grad * jac
        norm = g.norm(dim=1, keepdim=True)
        usable = (norm > 0) & torch.isfinite(norm)
        if rows is not None:
            usable = usable & rows[:, None]
        move = self.size * math.sqrt(codes.shape[1]) * g / norm.clamp_min(1e-30)
        stepped = self.prior.from_normal((z - move).detach())
        return torch.where(usable, stepped, codes)

    def reset(self, rows: torch.Tensor) -> None:
        """Nothing to forget (no moments): restarts need no state."""
