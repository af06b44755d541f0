"""The seed phase: K chains optimised by the augmented Lagrangian until all are in band.

Minimises over codes C (K x d) the Lagrangian of the paper's eq. (5) with two-sided
bands: L = -gamma D(C) / (K^2 scale) - sum lambda c + (mu/2) sum c^2 (see
:mod:`pipeline.sampler.lagrangian`), with Adam steps on C, the multipliers updated
every ``steps_per_outer`` steps, and a stop as soon as every chain lies inside the
true band. The slack box is the middle ``seed_shrink`` of the band, so the seeds land
well inside it. With K = n this is the paper's joint problem (eq. 15). :class:`ChainSeeds`
runs the same steps chain by chain for the default method's seeding chains.
"""

from __future__ import annotations

import torch

from pipeline.sampler.diversity import AcceptedSet
from pipeline.sampler.fast import FastPhase
from pipeline.sampler.job import (
    Evaluation,
    GradientPhase,
    JobState,
    Phase,
    row_index,
    row_mask,
)
from pipeline.sampler.lagrangian import AugmentedLagrangian, ChainLagrangian, in_band, violation
from pipeline.sampler.normalstep import NormalStep


def first_distinct(inputs: torch.Tensor) -> torch.Tensor:
    """Mask of rows that differ from every earlier row (exact duplicates are dropped)."""
    flat = inputs.reshape(inputs.shape[0], -1)
    same = (flat[:, None, :] == flat[None, :, :]).all(dim=2).tril(diagonal=-1)
    return ~same.any(dim=1)


class Adam:
    """Adam on a tensor of codes; rows are independent chains, each with its own step count."""

    def __init__(self, like: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999)):
        self.lr, self.betas = lr, betas
        self.t = torch.zeros(like.shape[0], 1, device=like.device, dtype=torch.float64)
        self.m, self.v = torch.zeros_like(like), torch.zeros_like(like)

    def step(
        self, codes: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One Adam step from ``codes`` along ``-grad`` (only the ``rows`` mask, if given:
        the other rows keep their codes and state)."""
        b1, b2 = self.betas
        live = None if rows is None else rows[:, None]
        self.t += 1.0 if live is None else live.double()
        m = b1 * self.m + (1 - b1) * grad
        v = b2 * self.v + (1 - b2) * grad * grad
        self.m = m if live is None else torch.where(live, m, self.m)
        self.v = v if live is None else torch.where(live, v, self.v)
        t = self.t.clamp(min=1)
        m_hat = self.m / (1 - b1**t).to(self.m.dtype)
        v_hat = self.v / (1 - b2**t).to(self.v.dtype)
        stepped = codes - self.lr * m_hat / (v_hat.sqrt() + 1e-8)
        return stepped if live is None else torch.where(live, stepped, codes)

    def reset(self, rows: torch.Tensor) -> None:
        """Forget the moments and step count of ``rows`` (restarted chains)."""
        self.m[rows], self.v[rows], self.t[rows] = 0.0, 0.0, 0.0


class SeedPhase(GradientPhase):
    """Augmented-Lagrangian seeding of ``chains`` codes; ``label`` names their samples."""

    wants_normals = False

    def __init__(self, job: JobState, chains: int, label: str = "seed") -> None:
        cfg = job.config
        self.job, self.label = job, label
        self.codes = job.init_codes(chains)
        self.lagrangian = AugmentedLagrangian(job.lo, job.hi, chains, cfg.seed_shrink, cfg.mu0)
        self.adam = Adam(self.codes, cfg.lr)
        self.last_gap = torch.zeros(chains, device=self.codes.device)

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """-gamma D / (K^2 scale) + penalty."""
        return -self.job.within_term(codes, feats) + self.lagrangian.penalty(acts)

    def advance(self, view: Evaluation) -> Phase | None:
        """Stop when every chain is in band (or the budget is spent), else take one step."""
        job, cfg = self.job, self.job.config
        job.track_best(view.acts, view.finite)
        inside = in_band(view.acts, job.lo, job.hi, cfg.margin) & view.finite
        steps = job.counts["seed_steps"]
        if bool(inside.all()) or steps >= cfg.max_seed_steps:
            return self._finish(inside, view)
        if steps == 0:
            self.last_gap = violation(view.acts, job.lo, job.hi)
        elif steps % cfg.steps_per_outer == 0:
            self.lagrangian.update(view.acts, cfg.mu_growth, cfg.mu_max)
            job.counts["outer_iterations"] += 1
            self._reseed_stuck(view.acts, inside)
        bad = ~view.finite
        if bool(bad.any()):
            self.codes = job.restart(self.codes, bad)
            self.adam.m[bad], self.adam.v[bad], self.lagrangian.lam[bad] = 0.0, 0.0, 0.0
        self.codes = job.project(self.adam.step(self.codes, view.grad))
        job.counts["seed_steps"] += 1
        return self

    def _reseed_stuck(self, acts: torch.Tensor, inside: torch.Tensor) -> None:
        """Restart chains outside the band that did not close 10% of their gap over the last
        outer iteration (e.g. a saturated unit with zero gradient): from a chain that is in
        band plus noise when there is one, else from a fresh draw."""
        job = self.job
        gap = violation(acts, job.lo, job.hi)
        stuck = ~inside & (gap > 0.9 * self.last_gap)
        self.last_gap = gap
        rows = stuck.nonzero().flatten()
        if not len(rows):
            return
        donors = inside.nonzero().flatten()
        if len(donors):
            pick = donors[torch.randint(len(donors), (len(rows),), generator=job.rng)]
            jitter = 0.1 * job.init_std * job.randn(len(rows), job.code_dim)
            fresh = self.codes[pick] + jitter
        else:
            fresh = job.init_codes(len(rows))
        self.codes[rows] = job.project(fresh)
        self.adam.m[rows] = 0
        self.adam.v[rows] = 0
        self.lagrangian.lam[rows] = 0
        self.last_gap[rows] = float("inf")
        job.counts["reseeded"] += len(rows)

    def _finish(self, inside: torch.Tensor, view: Evaluation) -> Phase | None:
        job = self.job
        job.multipliers = {
            "mu": self.lagrangian.mu,
            "lambda_mean": float(self.lagrangian.lam.mean()),
        }
        if not bool(inside.any()):
            job.finish("infeasible")
            return None
        if job.config.spacing > 0:
            inside = inside & first_distinct(view.inputs)
        rows = inside.nonzero().flatten()
        job.collector.add(
            self.codes[rows], view.inputs[rows], self.label, job.counts["seed_steps"], rows
        )
        if job.config.method != "fast" or len(job.collector) >= job.problem.n:
            job.finish("done")
            return None
        points = view.feats if job.config.diversity != "code" else self.codes
        job.accepted = AcceptedSet(points.shape[1], points.device)
        job.accepted.add(points[rows])
        fast = FastPhase(job, self.codes, inside, self.lagrangian)
        fast.move(view, moving=torch.ones_like(inside))
        return fast


class ChainSeeds:
    """The default method's seeding (:mod:`pipeline.sampler.explore`): the same Lagrangian,
    chain by chain, each seeding chain with its own multipliers, mu and step count."""

    def __init__(self, job: JobState, chains: int, like: torch.Tensor) -> None:
        cfg = job.config
        self.job = job
        self.lagrangian = ChainLagrangian(job.lo, job.hi, chains, cfg.seed_shrink, cfg.mu0)
        self.optimiser: Adam | NormalStep = (
            NormalStep(job.prior, cfg.seed_step_size) if cfg.seed_step == "normal"
            else Adam(like, cfg.lr))
        self.steps = [0] * chains
        self.last_gap = torch.full((chains,), float("inf"), device=like.device)

    def restart(self, rows: list[int]) -> None:
        """Forget the multipliers and moments of ``rows``."""
        index = row_index(rows, self.last_gap)
        self.lagrangian.reset(index)
        self.optimiser.reset(index)
        for i in rows:
            self.steps[i] = 0
        self.last_gap[index] = float("inf")

    def step(
        self, codes: torch.Tensor, view: Evaluation, rows: list[int]
    ) -> tuple[torch.Tensor, list[int]]:
        """One Adam (or ``seed_step="normal"``) step of the seeding ``rows``: the new codes,
        and which of them are stuck (did not close 10% of their gap over their last outer
        iteration)."""
        job, cfg = self.job, self.job.config
        every = len(rows) == len(self.steps)  # (then no mask: the same step, fewer operations)
        mask = None if every else row_mask(rows, codes)
        codes = job.project(self.optimiser.step(codes, view.grad, mask))
        for i in rows:
            self.steps[i] += 1
        outer = [i for i in rows if self.steps[i] % cfg.steps_per_outer == 0]
        if not outer:
            return codes, []
        mask = row_mask(outer, codes)
        self.lagrangian.update_rows(view.acts, mask, cfg.mu_growth, cfg.mu_max)
        gap = violation(view.acts, job.lo, job.hi)
        stuck = mask & (gap > 0.9 * self.last_gap)
        self.last_gap = torch.where(mask, gap, self.last_gap)
        job.counts["outer_iterations"] += len(outer)
        return codes, stuck.nonzero().flatten().tolist()
