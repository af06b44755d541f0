"""Reflective elliptical HMC ("bounce"): an exact, gradient-informed kernel for thin bands.

The target in the prior's normal coordinates z (``c = T(z)``, :meth:`Prior.from_normal`)
is N(z; 0, I) 1[T(z) in all bands]. Each transition draws a momentum v ~ N(0, I) and
applies S^L with S = Rot(h/2) Refl Rot(h/2):

- Rot(a): (z, v) -> (z cos a + v sin a, -z sin a + v cos a), the exact flow of
  H = |z|^2/2 + |v|^2/2 (the Gaussian part is integrated exactly, no step-size error);
- Refl: at a point outside the bands, v -> v - 2 (v.u) u with u the unit gradient in z of
  sum_j s_j f_j / w_j (s_j = -1 below band j, +1 above, 0 inside: the violated
  constraints' outward normal); inside every band, nothing.

Consecutive half-rotations merge, so a trajectory evaluates L midpoints (forward only; a
midpoint out of band is evaluated again with a backward, for u) and the endpoint; the
transition accepts the endpoint iff it is in every band, otherwise the chain stays.

Why this is exact: Rot is symplectic and F Rot(a) F = Rot(-a) (F: v -> -v); Refl is an
involution of v at fixed z (a Householder reflection: volume-preserving) that commutes
with F; hence F S F = S^-1, and F S^L is a volume-preserving involution. H is preserved
exactly (Rot keeps |z|^2 + |v|^2, Refl keeps |v|), so the Metropolis-Hastings acceptance
of the proposal F S^L is 1[endpoint in band]; refreshing v keeps N(v) invariant.
h and L are drawn afresh for every transition, independently of the state (jitter), and
h is adapted per chain only while the chain is in burn-in (its transitions are thrown
away), then frozen.

Where no midpoint leaves the band this is a rotation by L h ~ ``time`` (pi / 2 by default:
a near-independent move); on a thin shell above a band's lower edge the trajectory
bounces off the edge and slides along it instead of being pulled back to the origin.
"""

from __future__ import annotations

import math

import torch

from pipeline.models.priors import Prior
from pipeline.sampler.job import Evaluation
from pipeline.sampler.kernel import Kernel

IDLE, MID, GRAD, END = 0, 1, 2, 3
TARGET_OUT = 0.3  # the share of midpoints out of band that burn-in steers the step to
JITTER = 0.2  # h and the total time are drawn from their value times U(1 - J, 1 + J)
MAX_STEPS = 200


class BounceKernel(Kernel):
    """Per-chain trajectories of reflective elliptical HMC for ``chains`` chains of ``dim``."""

    adaptive = True  # every chain runs a burn-in (its step adapts), even from a prior draw

    def __init__(
        self,
        prior: Prior,
        chains: int,
        dim: int,
        rng: torch.Generator,
        device: torch.device,
        step: float = 1.0,
        time: float = math.pi / 2,
    ) -> None:
        self.prior, self.rng, self.device, self.time = prior, rng, device, time
        self.z = torch.zeros(chains, dim, device=device)
        self.v = torch.zeros(chains, dim, device=device)
        self.stage = torch.full((chains,), IDLE, dtype=torch.long, device=device)
        self.sign: torch.Tensor | None = None
        self.h = torch.full((chains,), float(step), device=device)  # per chain, adapted
        self.out = torch.zeros(chains, 2, device=device)  # this transition: midpoints, out
        self.step = torch.zeros(chains, device=device)  # this transition's jittered h
        self.left = torch.zeros(chains, dtype=torch.long, device=device)  # midpoints to go
        self.counts = {"midpoints": 0, "reflections": 0}

    def _jitter(self, count: int) -> torch.Tensor:
        u = torch.rand(count, generator=self.rng, dtype=torch.float64, device=self.rng.device)
        u = u.float().to(self.device)
        return 1 - JITTER + 2 * JITTER * u

    def start(self, rows: torch.Tensor, codes: torch.Tensor) -> None:
        """Begin a transition of ``rows`` (indices) from ``codes`` (in band): fresh momentum,
        a jittered step and number of midpoints, and the first half-rotation."""
        if not len(rows):
            return
        v = torch.randn(len(rows), self.z.shape[1], generator=self.rng,
                        device=self.rng.device).to(self.device)
        h = self.h[rows] * self._jitter(len(rows))
        total = self.time * self._jitter(len(rows))
        steps = (total / h).round().clamp(1, MAX_STEPS).long()
        self.launch(rows, self.prior.to_normal(codes), v, h, steps)

    def launch(self, rows: torch.Tensor, z: torch.Tensor, v: torch.Tensor, h: torch.Tensor,
               steps: torch.Tensor) -> None:
        """Begin S^steps from (z, v) in normal coordinates with step h (one per row): the
        first half-rotation. :meth:`start` draws v, h and steps; a trajectory is run again
        backwards by launching from its endpoint with -v and the same h and steps."""
        self.step[rows], self.left[rows] = h.to(self.device), steps.to(self.device)
        self.z[rows], self.v[rows] = _rotate(z.to(self.device), v.to(self.device), h / 2)
        self.stage[rows] = MID
        self.out[rows] = 0.0

    def proposals(self) -> torch.Tensor:
        """The codes to evaluate: T(z) at every chain's current point of its trajectory."""
        return self.prior.from_normal(self.z)

    def grad_rows(self) -> torch.Tensor:
        """Chains whose midpoint is out of band and needs its gradient (for the reflection)."""
        return self.stage == GRAD

    def loss(self, acts: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
        """sum over gradient rows of sum_j s_j f_j / w_j: its gradient is the violated
        constraints' outward normal (the sign is fixed when the midpoint was found out)."""
        if self.sign is None:
            return acts.new_zeros(())
        rows = self.grad_rows().to(acts.device)
        return (self.sign[rows] * acts[rows] / width).sum()

    def observe(
        self, rows: torch.Tensor, ok: torch.Tensor, view: Evaluation, lo: torch.Tensor,
        hi: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance the trajectories of ``rows`` (bool) after their evaluation ``view`` (``ok``:
        in every band [lo, hi]). Returns (ended, moved): chains whose transition ended, and
        of those, the ones whose endpoint was accepted (the others stay where they were)."""
        stage = torch.where(rows, self.stage, torch.full_like(self.stage, IDLE))
        out = (stage == MID) & ~ok
        if bool(out.any()):
            self._mark(out, view, lo, hi)
        reflect = stage == GRAD
        if bool(reflect.any()):
            self._reflect(reflect, view.grad)
        self._advance(((stage == MID) & ok) | reflect)
        ended = stage == END
        self.stage[ended] = IDLE
        self.counts["midpoints"] += int((stage == MID).sum())
        self.out[:, 0] += (stage == MID).float()
        self.out[:, 1] += out.float()
        return ended, ended & ok

    def adapt(self, ended: torch.Tensor, moved: torch.Tensor, burning: torch.Tensor) -> None:
        """Chains in burn-in steer their step so that a share :data:`TARGET_OUT` of their
        midpoints falls out of band: h * 2^((target - share) / 0.15) after an accepted
        transition, h / sqrt(2) after a rejected one (an endpoint out of band says the step
        overshoots the band's curvature).
        A step longer than the in-band arc between two bounces maps a bouncing chain back
        onto itself (Refl undoes the rotation: half the midpoints are out and the chain
        stops moving across the shell); a much shorter one wastes evaluations. On a linear
        band [b, b + 1] the share is 1/3 at h ~ 1/b, where the evaluations per effective
        sample are lowest (``bench/bounce.py``). Frozen after burn-in, so the kept
        transitions see a fixed kernel."""
        rows = ended & burning
        share = self.out[rows, 1] / self.out[rows, 0].clamp_min(1.0)
        step = self.h[rows] * torch.pow(2.0, (TARGET_OUT - share) / 0.15)
        step = torch.where(moved[rows], step, self.h[rows] / math.sqrt(2))
        self.h[rows] = step.clamp(max=self.time)

    def _mark(self, out: torch.Tensor, view: Evaluation, lo: torch.Tensor,
              hi: torch.Tensor) -> None:
        """Midpoints out of band: record which way each constraint is violated (s_j; none
        where the evaluation was not finite) and ask for the gradient at the same point."""
        if self.sign is None:
            self.sign = torch.zeros(len(self.stage), len(lo), device=self.device)
        sign = (view.acts > hi).float() - (view.acts < lo).float()
        sign = torch.where(view.finite[:, None], sign, torch.zeros_like(sign))
        self.sign[out] = sign[out]
        self.stage[out] = GRAD

    def _reflect(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """v -> v - 2 (v.u) u at ``rows``, u the unit gradient in z (none where it vanishes)."""
        z = self.z[rows].detach().requires_grad_(True)
        with torch.enable_grad():
            (jac,) = torch.autograd.grad(self.prior.from_normal(z).sum(), z)
        g = grad[rows].to(self.device) * jac  # chain rule through the coordinate-wise T
        norm = g.norm(dim=1, keepdim=True)
        usable = (norm > 0) & torch.isfinite(norm)
        u = torch.where(usable, g / norm.clamp_min(1e-30), torch.zeros_like(g))
        v = self.v[rows]
        self.v[rows] = v - 2 * (v * u).sum(dim=1, keepdim=True) * u
        self.counts["reflections"] += int(usable.sum())

    def _advance(self, rows: torch.Tensor) -> None:
        """From a midpoint: rotate by h to the next midpoint, or by h/2 to the endpoint."""
        if not bool(rows.any()):
            return
        self.left[rows] -= 1
        last = rows & (self.left <= 0)
        mid = rows & ~last
        for sel, frac, stage in ((mid, 1.0, MID), (last, 0.5, END)):
            if bool(sel.any()):
                self.z[sel], self.v[sel] = _rotate(self.z[sel], self.v[sel], frac * self.step[sel])
                self.stage[sel] = stage


def _rotate(z: torch.Tensor, v: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The exact flow of H = |z|^2/2 + |v|^2/2 for time ``angle`` (one per row)."""
    c, s = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    return z * c + v * s, v * c - z * s
