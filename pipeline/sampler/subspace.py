"""Subspace-split slice sampling for thin bands (``subspace="on"``/``"auto"``).

On a thin band far in the prior's tail the target N(z; 0, I) 1[T(z) in all bands] puts
its mass in a thin shell above the band's lower edge, b prior standard deviations along
the band's normal n. A full ellipse z cos t + nu sin t pulls the n-component towards 0 by
b (1 - cos t), so it stays in band only for t ~ 1/b: elliptical slice sampling's
autocorrelation time grows like b^2. This kernel splits the space instead.

Each chain holds an orthonormal basis U (``dim x r``, r <= ``rank``) of the directions
along which its bands change: the gradients in z of its neurons (cycling over the
constraints), taken at ``rank`` states of its burn-in (one backward each) and
orthonormalised. U is frozen when the burn-in ends, before the chain keeps any slice
sample, so every kept transition is a fixed kernel. N(0, I) factorises over span(U) and
its complement, hence for a fixed U each of these leaves the target invariant:

(a) elliptical slice sampling on the complement (:class:`~pipeline.sampler.slice.
    SliceKernel` with ``bases``): the band hardly depends on those directions, so the
    first proposals are accepted and ``dim - r`` dimensions are nearly refreshed;
(b) a 1-d slice sampler (Neal 2003, stepping out with at most ``STEP_OUT`` steps of width
    w, then shrinkage) along a random unit direction e in span(U), drawn independently of
    the state, on N(z + s e) 1[bands]. The Gaussian factor's slice is the interval
    (e.z + s)^2 < (e.z)^2 + 2 E, E ~ Exp(1), known in closed form: points outside it are
    rejected without an evaluation. w is adapted during burn-in (three times the mean
    move) and frozen with U.

A transition is (a) then (b); every ``FULL_EVERY``-th transition, and every transition
of a chain without a basis, is a plain full-ellipse transition instead (a fixed cycle of
exact kernels is exact, and the full ellipse keeps the chain ergodic if U is poor). In
``auto`` mode the split transition runs only where no independence proposals are made
(q-hat < 1%): q-hat comes from prior draws whose outcomes do not depend on the chains'
states, so the choice keeps every transition exact.
"""

from __future__ import annotations

import math

import torch

from pipeline.models.priors import Prior
from pipeline.sampler.explore import ExplorePhase
from pipeline.sampler.job import Evaluation, JobState
from pipeline.sampler.kernel import Kernel
from pipeline.sampler.slice import SliceKernel

FULL_EVERY = 5
GRAD_EVERY = 2
STEP_OUT = 8
INITIAL_WIDTH = 1.0
COLLAPSED = 1e-9
GRAD, SPLIT, LINE, FULL = "grad", "split", "line", "full"


class LineSlice:
    """Neal's 1-d slice sampler (stepping out, shrinkage) along ``z + s e``, one chain."""

    def __init__(self, z: torch.Tensor, e: torch.Tensor, width: float, rng: torch.Generator):
        self.z, self.e, self.rng = z, e, rng
        a = float(e @ z)
        half = math.sqrt(a * a + 2 * float(torch.empty(1).exponential_(generator=rng)))
        self.gauss = (-a - half, -a + half)
        u, v = self._uniform(), self._uniform()
        self.left = -width * u
        self.right = self.left + width
        self.width = width
        self.steps = [math.floor(STEP_OUT * v), STEP_OUT - 1 - math.floor(STEP_OUT * v)]
        self.stage = 0  # 0: stepping out left, 1: right, 2: shrinking
        self.s = 0.0
        self._next()

    def _uniform(self) -> float:
        return float(torch.rand(1, generator=self.rng, dtype=torch.float64))

    def _inside(self, s: float) -> bool:
        return self.gauss[0] < s < self.gauss[1]

    def _next(self) -> None:
        """Move to the next point that needs a band evaluation (points outside the
        Gaussian's slice are settled here)."""
        while self.stage < 2:
            end = self.left if self.stage == 0 else self.right
            if self.steps[self.stage] > 0 and self._inside(end):
                self.s = end
                return
            self.stage += 1
        while True:
            self.s = self.left + (self.right - self.left) * self._uniform()
            if self.right - self.left < COLLAPSED:  # only the current point is left
                self.s = 0.0
            if self._inside(self.s) or self.s == 0.0:
                return
            self._shrink()

    def _shrink(self) -> None:
        if self.s < 0:
            self.left = self.s
        else:
            self.right = self.s

    def point(self) -> torch.Tensor:
        """The normal coordinates to evaluate."""
        return self.z + self.s * self.e

    def result(self, in_band: bool) -> bool:
        """Record the band test of :meth:`point`; True when the transition is complete."""
        if self.stage == 2:
            if in_band:
                return True
            self._shrink()
        elif in_band:
            self.steps[self.stage] -= 1
            if self.stage == 0:
                self.left -= self.width
            else:
                self.right += self.width
        else:
            self.stage += 1
        self._next()
        return False


class SubspaceKernel(Kernel):
    """Per-chain bases, the complement ellipse and the line slice (see the module doc).

    Before each :meth:`start` the phase sets ``burning`` (per chain: in burn-in, so the
    basis may still change) and ``split`` (the split transition is allowed)."""

    adaptive = True  # a chain from an exact prior draw also runs a burn-in (for its basis)

    def __init__(
        self, prior: Prior, chains: int, dim: int, rng: torch.Generator, device: torch.device,
        rank: int, constraints: int,
    ) -> None:
        self.prior, self.rng, self.device = prior, rng, device
        self.rank, self.constraints = rank, constraints
        self.ellipse = SliceKernel(prior, chains, dim, rng, device)
        self.bases = torch.zeros(chains, dim, rank, device=device)
        self.grads: list[list[torch.Tensor]] = [[] for _ in range(chains)]
        self.frozen = [False] * chains
        self.width = [INITIAL_WIDTH] * chains
        self.moves: list[list[float]] = [[] for _ in range(chains)]
        self.count = [0] * chains
        self.stage: list[str] = [FULL] * chains
        self.line: list[LineSlice | None] = [None] * chains
        self.state = torch.zeros(chains, dim, device=device)
        self.proposed = torch.zeros(chains, dim, device=device)
        self.codes = torch.zeros(chains, dim, device=device)
        self.burning = torch.zeros(chains, dtype=torch.bool)
        self.split = True
        self.allowed = [True] * chains

    def grad_rows(self) -> torch.Tensor:
        """Chains whose next evaluation is a gradient of their state."""
        return torch.tensor([s == GRAD for s in self.stage], device=self.device)

    def loss(self, acts: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
        """Sum over gradient rows of the neuron whose gradient that row collects next."""
        rows = [i for i, s in enumerate(self.stage) if s == GRAD]
        cols = [len(self.grads[i]) % self.constraints for i in rows]
        return acts[rows, cols].sum() if rows else acts.new_zeros(())

    def start(self, rows: torch.Tensor, codes: torch.Tensor) -> None:
        """Begin a transition of ``rows`` (indices) from ``codes`` (their states); a chain
        past its burn-in freezes its basis and line width for good."""
        z = self.prior.to_normal(codes)
        self.codes[rows] = codes
        for j, i in enumerate(rows.tolist()):
            self.state[i], self.allowed[i] = z[j], self.split
            self.count[i] += 1
            if not bool(self.burning[i]):
                self.frozen[i] = True
            due = (self.count[i] - 1) % GRAD_EVERY == 0 and len(self.grads[i]) < self.rank
            if not self.frozen[i] and due:
                self.stage[i] = GRAD
                continue
            self._begin(i)

    def _begin(self, i: int) -> None:
        """The transition proper: the complement ellipse, or a full one."""
        use = self.allowed[i] and bool(self.bases[i].any()) and self.count[i] % FULL_EVERY
        self.stage[i] = SPLIT if use else FULL
        row = torch.tensor([i], device=self.device)
        self.ellipse.start(row, self.prior.from_normal(self.state[i : i + 1]),
                           self.bases[i : i + 1] if use else None)

    def observe(
        self, rows: torch.Tensor, ok: torch.Tensor, view: Evaluation, lo: torch.Tensor,
        hi: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """After evaluating the proposals of ``rows`` (bool): which chains ended their
        transition, and which of those moved (all of them: the state is the last point
        accepted)."""
        self._reject((rows & ~ok).nonzero().flatten())
        ended = self._accept((rows & ok).nonzero().flatten(), view)
        return ended, ended

    @property
    def counts(self) -> dict[str, float]:
        """Stats: the frozen bases' mean rank and the lines' mean width."""
        ranks = (self.bases.abs().sum(dim=1) > 0).sum(dim=1).float()
        return {"subspace_rank": float(ranks.mean()),
                "subspace_width": sum(self.width) / len(self.width)}

    def _reject(self, rows: torch.Tensor) -> None:
        """Proposals of ``rows`` were out of band (or not finite)."""
        ellipse = []
        for i in rows.tolist():
            if self.stage[i] == LINE:
                self.line[i].result(False)
            elif self.stage[i] == GRAD:
                self._begin(i)
            else:
                ellipse.append(i)
        self.ellipse.reject(torch.tensor(ellipse, dtype=torch.long, device=self.device))

    def _accept(self, rows: torch.Tensor, view: Evaluation) -> torch.Tensor:
        """Proposals of ``rows`` were in band; the mask of chains whose transition ended."""
        done = torch.zeros(len(self.stage), dtype=torch.bool, device=self.device)
        for i in rows.tolist():
            done[i] = self._advance(i, view)
        return done

    def _advance(self, i: int, view: Evaluation) -> bool:
        stage = self.stage[i]
        if stage == GRAD:
            self._add_gradient(i, view.grad[i])
            self._begin(i)
            return False
        if stage == SPLIT:
            self.state[i] = self.proposed[i]
            self._start_line(i)
            return False
        if stage == LINE:
            line = self.line[i]
            if not line.result(True):
                return False
            if not self.frozen[i]:
                self.moves[i].append(abs(line.s))
                self.width[i] = max(3 * sum(self.moves[i]) / len(self.moves[i]), 1e-3)
        return True

    def _start_line(self, i: int) -> None:
        basis = self.bases[i]
        g = torch.randn(basis.shape[1], generator=self.rng).to(self.device)
        e = basis @ g
        self.line[i] = LineSlice(self.state[i], e / e.norm(), self.width[i], self.rng)
        self.stage[i] = LINE

    def _add_gradient(self, i: int, grad_code: torch.Tensor) -> None:
        """Store d f / d z at chain ``i``'s state and re-orthonormalise its basis."""
        z = self.state[i].detach().clone().requires_grad_(True)
        (jac,) = torch.autograd.grad(self.prior.from_normal(z).sum(), z)
        self.grads[i].append(grad_code * jac)
        self.bases[i] = orthonormal(torch.stack(self.grads[i][-self.rank :], dim=1), self.rank)

    def proposals(self) -> torch.Tensor:
        """The codes to evaluate next; a gradient row re-evaluates its state's codes."""
        ellipse = torch.tensor([s in (SPLIT, FULL) for s in self.stage], device=self.device)
        z = torch.where(ellipse[:, None], self.ellipse.normal_proposals(), self.state)
        for i, stage in enumerate(self.stage):
            if stage == LINE:
                z[i] = self.line[i].point()
        self.proposed = z
        return torch.where(self.grad_rows()[:, None], self.codes, self.prior.from_normal(z))


def orthonormal(vectors: torch.Tensor, rank: int) -> torch.Tensor:
    """``(dim, rank)``: an orthonormal basis of the columns of ``vectors`` (Gram-Schmidt in
    order); a column that adds less than 1e-3 of its norm is dropped (zero columns pad)."""
    out = torch.zeros(vectors.shape[0], rank, dtype=vectors.dtype, device=vectors.device)
    kept = 0
    for col in vectors.T:
        residual = col - out[:, :kept] @ (out[:, :kept].T @ col)
        if kept < rank and residual.norm() > 1e-3 * col.norm() > 0:
            out[:, kept] = residual / residual.norm()
            kept += 1
    return out


class SubspacePhase(ExplorePhase):
    """The default method with the subspace-split kernel on thin bands."""

    def __init__(self, job: JobState) -> None:
        super().__init__(job)
        cfg = job.config
        self.kernel = SubspaceKernel(job.prior, cfg.k, job.code_dim, job.rng, self.codes.device,
                                     cfg.subspace_rank, len(job.problem.bands))

    def _start_kernel(self, rows: list[int]) -> None:
        """Tell the kernel which chains are in burn-in and whether it may split (``on``,
        or ``auto`` where no independence proposals are made), then start it."""
        self.kernel.burning = torch.tensor(self.burn) > 0
        self.kernel.split = self.job.config.subspace == "on" or not self.indep
        super()._start_kernel(rows)
