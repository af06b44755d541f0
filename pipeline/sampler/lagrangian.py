"""The bound-constrained augmented Lagrangian for two-sided activation bands.

For chain i and constraint j, with activation a_ij = f_j(G(c_i)) and band [l_j, u_j]
of width w_j, the constraint is c_ij = (a_ij - s_ij) / w_j = 0 with a slack s_ij kept
in a box [l'_j, u'_j] inside the band (Nocedal & Wright, 2nd ed., section 17.4). The
penalty part of the Lagrangian L(C, s; lambda, mu) is

    - sum_ij lambda_ij c_ij + (mu / 2) sum_ij c_ij^2.

Dividing by w_j makes c dimensionless, so one mu schedule fits every neuron's scale.
"""

from __future__ import annotations

import torch


def shrunk_box(
    lo: torch.Tensor, hi: torch.Tensor, fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The middle ``fraction`` of each band ``[lo, hi]``."""
    mid, half = (lo + hi) / 2, (hi - lo) * fraction / 2
    return mid - half, mid + half


def in_band(
    acts: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """Rows of ``acts`` (n, p) inside every band, ``margin`` band widths away from each edge."""
    if not margin:
        return ((acts >= lo) & (acts <= hi)).all(dim=1)
    guard = (hi - lo) * margin
    return ((acts >= lo + guard) & (acts <= hi - guard)).all(dim=1)


def violation(acts: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Per row, the summed distance outside the bands in band widths (0 inside)."""
    width = hi - lo
    return (((lo - acts).clamp(min=0) + (acts - hi).clamp(min=0)) / width).sum(dim=1)


class AugmentedLagrangian:
    """Multipliers lambda (one per chain and constraint), penalty weight mu, slack box."""

    def __init__(
        self, lo: torch.Tensor, hi: torch.Tensor, chains: int, box_fraction: float, mu: float
    ) -> None:
        self.width = hi - lo
        self.box_lo, self.box_hi = shrunk_box(lo, hi, box_fraction)
        self.lam = torch.zeros(chains, lo.shape[0], device=lo.device, dtype=lo.dtype)
        self.mu = float(mu)

    def frozen(
        self, lo: torch.Tensor, hi: torch.Tensor, box_fraction: float
    ) -> AugmentedLagrangian:
        """A copy with the same lambda and mu and a new slack box (for the sampling phase)."""
        copy = AugmentedLagrangian(lo, hi, self.lam.shape[0], box_fraction, self.mu)
        copy.lam = self.lam.clone()
        return copy

    def residual(self, acts: torch.Tensor) -> torch.Tensor:
        """c = (a - s) / w after the closed-form s-step s = clip(a - w lambda / mu, l', u').

        The s-step minimises L over s exactly, so s is held constant in the gradient
        (envelope theorem): the gradient acts only where the slack is clipped.
        """
        slack = (acts.detach() - self.width * self.lam / self.mu).clamp(self.box_lo, self.box_hi)
        return (acts - slack) / self.width

    def penalty(self, acts: torch.Tensor) -> torch.Tensor:
        """- sum lambda c + mu/2 sum c^2 (a scalar)."""
        c = self.residual(acts)
        return (-(self.lam * c) + 0.5 * self.mu * c * c).sum()

    def update(self, acts: torch.Tensor, growth: float, mu_max: float) -> None:
        """Multiplier step lambda <- lambda - mu c, then mu <- min(growth * mu, mu_max)."""
        self.lam = self.lam - self.mu * self.residual(acts.detach())
        self.mu = min(self.mu * growth, mu_max)


class ChainLagrangian(AugmentedLagrangian):
    """The same Lagrangian with a penalty weight mu per chain, so that chains (restarted
    at different times) run their own multiplier schedules."""

    def __init__(
        self, lo: torch.Tensor, hi: torch.Tensor, chains: int, box_fraction: float, mu: float
    ) -> None:
        super().__init__(lo, hi, chains, box_fraction, mu)
        self.mu0 = float(mu)
        self.mu = torch.full((chains, 1), self.mu0, device=lo.device, dtype=lo.dtype)

    def penalty_rows(self, acts: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """- sum lambda c + mu/2 sum c^2 over the chains where ``rows`` (bool) is True."""
        c = self.residual(acts)
        terms = -(self.lam * c) + 0.5 * self.mu * c * c
        return (terms * rows[:, None]).sum()

    def update_rows(
        self, acts: torch.Tensor, rows: torch.Tensor, growth: float, mu_max: float
    ) -> None:
        """The multiplier step and mu growth, for ``rows`` only."""
        step = self.mu * self.residual(acts.detach())
        self.lam[rows] = self.lam[rows] - step[rows]
        self.mu[rows] = (self.mu[rows] * growth).clamp(max=mu_max)

    def reset(self, rows: torch.Tensor) -> None:
        """Restart ``rows``: lambda = 0, mu = mu0."""
        self.lam[rows], self.mu[rows] = 0.0, self.mu0
