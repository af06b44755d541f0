"""The default method (``method="ess"``): sample p(c | all bands) ~ p(c) 1[all bands].

K independent chains, each in one of three modes, switched per chain as it goes:

- ``FRESH``: its code is a draw from the prior; if that is in band it is an exact sample
  of the target, kept, and the chain explores from it. Otherwise it draws again, up to
  ``prior_tries`` draws, then seeds.
- ``SEEDING``: augmented-Lagrangian descent on its own code (its own lambda, mu and Adam
  state; forward and backward); when in band it explores, after ``burn_in`` transitions
  that are neither kept nor traced (the seed is not a draw of the target); they count
  towards its first thinning interval. A chain that does not close
  10% of its gap over an outer iteration starts again from a fresh prior draw.
- ``EXPLORING``: each transition first makes up to r independence proposals from the
  prior (the first in band is the next state: an exact, independent draw), and if all r
  miss, one elliptical slice sampling transition (:mod:`pipeline.sampler.slice`); forward
  passes only. With ``kernel="bounce"`` the transition is reflective elliptical HMC instead
  (:mod:`pipeline.sampler.bounce`: a backward at each midpoint out of band, a rejected
  endpoint stays at the state; every chain then runs a burn-in, in which its step adapts).
  The r misses happen with probability (1 - q)^r whatever the current state (q: the bands'
  prior mass), so the kernel is a fixed mixture of an exact draw and the slice kernel and
  keeps the target. r = ceil(2 / q-hat), q-hat the share in band of all prior draws so far
  (first draws and independence proposals: their outcomes do not depend on the chains'
  states, so re-estimating r keeps every transition exact); r = 0, pure slice sampling,
  where q-hat < 1% or ``independence`` is off. An independence proposal in band is an
  exact draw, independent of the chain's past: it is kept at once (and ends a seed's
  burn-in). Every other transition is traced, and a chain keeps a sample once ``thin``
  transitions have passed since its last, with ``thin`` the integrated autocorrelation
  time (rounded up) of the traced activations and feature projections (re-estimated as
  the trace grows) unless set.

The job ends with n samples (``done``), when its budget of ``budget * n`` forward-equivalent
evaluations is spent (``partial``), or after ``max_seed_steps`` iterations without any chain
in band (``infeasible``). No chain waits for another.
"""

from __future__ import annotations

import math

import torch

from pipeline.sampler.bounce import BounceKernel
from pipeline.sampler.diagnostics import integrated_time, summary
from pipeline.sampler.job import Evaluation, JobState, Phase
from pipeline.sampler.lagrangian import ChainLagrangian, in_band, violation
from pipeline.sampler.normalstep import NormalStep
from pipeline.sampler.seeds import Adam
from pipeline.sampler.slice import SliceKernel

FRESH, SEEDING, EXPLORING = 0, 1, 2
MAX_THIN = 50
THIN_EVERY = 8
MIN_RATE = 0.01


class ChainSeeds:
    """Per-chain augmented-Lagrangian seeding (see :mod:`pipeline.sampler.seeds`)."""

    def __init__(self, job: JobState, chains: int, like: torch.Tensor) -> None:
        cfg = job.config
        self.job = job
        self.lagrangian = ChainLagrangian(job.lo, job.hi, chains, cfg.seed_shrink, cfg.mu0)
        self.optimiser: Adam | NormalStep = (
            NormalStep(job.prior, cfg.seed_step_size) if cfg.seed_step == "normal"
            else Adam(like, cfg.lr))
        self.steps = torch.zeros(chains, dtype=torch.long)
        self.last_gap = torch.full((chains,), float("inf"), device=like.device)

    def restart(self, rows: torch.Tensor) -> None:
        """Forget the multipliers and moments of ``rows``."""
        self.lagrangian.reset(rows)
        self.optimiser.reset(rows)
        self.steps[rows.cpu()] = 0
        self.last_gap[rows] = float("inf")

    def step(
        self, codes: torch.Tensor, view: Evaluation, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Adam (or ``seed_step="normal"``) step of the seeding ``rows`` (bool): the new
        codes, and which of them are stuck (did not close 10% of their gap over their last
        outer iteration)."""
        job, cfg = self.job, self.job.config
        codes = job.project(self.optimiser.step(codes, view.grad, rows))
        self.steps[rows.cpu()] += 1
        outer = rows & (self.steps.to(rows.device) % cfg.steps_per_outer == 0)
        stuck = torch.zeros_like(rows)
        if bool(outer.any()):
            self.lagrangian.update_rows(view.acts, outer, cfg.mu_growth, cfg.mu_max)
            gap = violation(view.acts, job.lo, job.hi)
            stuck = outer & (gap > 0.9 * self.last_gap)
            self.last_gap = torch.where(outer, gap, self.last_gap)
            job.counts["outer_iterations"] += int(outer.sum())
        return codes, stuck


class ExplorePhase:
    """K independent chains: prior draws, seeding where needed, then slice sampling."""

    wants_normals = False

    def __init__(self, job: JobState) -> None:
        cfg, k = job.config, job.config.k
        self.job = job
        self.codes = job.init_codes(k)
        self.mode = torch.full((k,), FRESH, dtype=torch.long, device=self.codes.device)
        self.tries = torch.ones(k, dtype=torch.long, device=self.codes.device)
        self.state = self.codes.clone()
        self.indep_left = torch.zeros(k, dtype=torch.long, device=self.codes.device)
        self.indep: int | None = None
        self.draws = [0, 0]  # prior draws before exploring: made, in band
        self.seeds = ChainSeeds(job, k, self.codes)
        self.kernel = _kernel(job, self.codes.device)
        self.label = "bounce" if cfg.kernel == "bounce" else "ess"
        self.here: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * k
        self.since = [0] * k
        self.burn = [0] * k
        self.trace: list[list[torch.Tensor]] = [[] for _ in range(k)]
        self.kept: list[list[torch.Tensor]] = [[] for _ in range(k)]
        self.thin = cfg.thin or 2
        self.projection: torch.Tensor | None = None
        self.ever_in_band = False

    def grad_rows(self) -> torch.Tensor:
        """Seeding chains, and exploring chains whose kernel asks for a gradient."""
        return (self.mode == SEEDING) | self.kernel.grad_rows().to(self.mode.device)

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """The seeding chains' penalty (their own lambda and mu; no diversity term), plus
        the kernel's (the bounce kernel's out-of-band midpoints, rows disjoint)."""
        penalty = self.seeds.lagrangian.penalty_rows(acts, self.mode == SEEDING)
        return penalty + self.kernel.loss(acts, self.job.width)

    def advance(self, view: Evaluation) -> Phase | None:
        """Update every chain by its mode, then finish or propose the next codes."""
        job = self.job
        job.track_best(view.acts, view.finite)
        ok = in_band(view.acts, job.lo, job.hi) & view.finite
        job.counts["reset"] += int((~view.finite).sum())  # rejected like any miss
        self.ever_in_band |= bool(ok.any())
        modes = self.mode.tolist()  # at the start: the steps below change self.mode
        rows = {m: self.mode == m for m in (FRESH, SEEDING, EXPLORING) if m in modes}
        if SEEDING in rows:
            job.counts["seed_steps"] += 1
        if EXPLORING in rows:
            job.counts["sample_steps"] += 1
        if FRESH in rows:
            self._fresh(view, ok, rows[FRESH])
        if SEEDING in rows:
            self._seeding(view, ok, rows[SEEDING])
        self._exploring(view, ok, rows.get(EXPLORING), modes.count(EXPLORING))
        self._adapt_thin()
        if self._finished():
            return None
        self._propose()
        return self

    def _propose(self) -> None:
        """Next codes of exploring chains: a prior draw while independence proposals are
        left, else the slice kernel's proposal."""
        exploring = self.mode == EXPLORING
        if not bool(exploring.any()):  # (no chain leaves exploration: none has started)
            return
        self.codes = torch.where(exploring[:, None], self.kernel.proposals(), self.codes)
        drawing = exploring & (self.indep_left > 0)
        if bool(drawing.any()):
            self.codes[drawing] = self.job.prior_draws(int(drawing.sum()))

    def _fresh(self, view: Evaluation, ok: torch.Tensor, rows: torch.Tensor) -> None:
        """Prior draws: in band -> an exact sample, explore; else draw again, or seed."""
        job = self.job
        hit = rows & ok
        self.draws[0] += int(rows.sum())
        self.draws[1] += int(hit.sum())
        self._begin(view, hit, exact=True)
        miss = rows & ~ok
        again = miss & (self.tries < job.config.prior_tries)
        if bool(again.any()):
            self.codes[again] = job.prior_draws(int(again.sum()))
            self.tries[again] += 1
        seed = miss & ~again
        self.mode[seed] = SEEDING
        self.seeds.restart(seed.nonzero().flatten())

    def _seeding(self, view: Evaluation, ok: torch.Tensor, rows: torch.Tensor) -> None:
        """Seeded chains that reached the band explore (after a burn-in); the others step;
        stuck ones start again from a fresh prior draw."""
        job = self.job
        self._begin(view, rows & ok, exact=False)
        stepping = rows & ~ok
        if not bool(stepping.any()):
            return
        bad = stepping & ~view.finite
        codes, stuck = self.seeds.step(self.codes, view, stepping & view.finite)
        self.codes = codes
        restart = bad | stuck
        if bool(restart.any()):
            job.counts["reseeded"] += int(restart.sum())
            self.codes[restart] = job.prior_draws(int(restart.sum()))
            self.mode[restart] = FRESH
            self.tries[restart] = job.config.prior_tries

    def _exploring(
        self, view: Evaluation, ok: torch.Tensor, rows: torch.Tensor | None, count: int
    ) -> None:
        """An independence proposal in band completes a transition, a missed one uses up one
        try (the last starts the kernel); the kernel says which of its chains ended their
        transition and which of those moved (the others stay at their state). ``rows``
        (bool; None: no chain explores) holds ``count`` chains."""
        if rows is None:
            self._independence_tries()
            return
        self.job.counts["tried"] += count
        drawing = rows & (self.indep_left > 0)
        ended, moved = self.kernel.observe(rows & ~drawing, ok, view, self.job.lo, self.job.hi)
        if self.kernel.adaptive:  # (the slice kernel has no step to adapt)
            self.kernel.adapt(ended, moved, torch.tensor(self.burn, device=ended.device) > 0)
        exact = drawing & ok
        made = int(drawing.sum())
        if made:
            self.draws[0] += made
            self.draws[1] += int(exact.sum())
            missed = drawing & ~ok
            self.indep_left[missed] -= 1
            self._start_kernel(missed & (self.indep_left == 0))
        done = exact | ended
        chains = done.nonzero().flatten().tolist()
        if not chains:
            self._independence_tries()
            return
        arrived = exact | moved
        self.state[arrived] = self.codes[arrived]
        here, independent = arrived.tolist(), exact.tolist()
        for i in chains:
            if here[i]:
                self._arrive(i, view)
            self._transition(i, independent[i])
        self._next_transition(done)

    def _independence_tries(self) -> int:
        """r = ceil(2 / q-hat), q-hat the share of all prior draws so far (the chains' first
        draws and the independence proposals) in band; 0 where q-hat < 1%."""
        made, hits = self.draws
        rate = hits / made if made else 0.0
        use = self.job.config.independence and rate >= MIN_RATE
        self.indep = math.ceil(2 / rate) if use else 0
        return self.indep

    def _next_transition(self, rows: torch.Tensor) -> None:
        """Start a transition of ``rows`` (bool) from their current state."""
        self.indep_left[rows] = self._independence_tries()
        self._start_kernel(rows & (self.indep_left == 0))

    def _start_kernel(self, rows: torch.Tensor) -> None:
        """Start the kernel's transition of ``rows`` (bool) from their current state."""
        idx = rows.nonzero().flatten()
        self.kernel.start(idx, self.state[idx])

    def _begin(self, view: Evaluation, rows: torch.Tensor, exact: bool) -> None:
        """Chains in band for the first time in this run: explore from here. An exact prior
        draw is kept at once; a seed first runs ``burn_in`` transitions."""
        idx = rows.nonzero().flatten()
        if not len(idx):
            return
        self.mode[idx] = EXPLORING
        self.state[idx] = self.codes[idx]
        for i in idx.tolist():
            burn = not exact or self.kernel.adaptive
            self.since[i], self.burn[i] = 0, self.job.config.burn_in if burn else 0
            self._arrive(i, view)
            if exact:
                self._record(i)
                self._keep(i, "prior")
        self._next_transition(rows)

    def _series(self, i: int, view: Evaluation) -> torch.Tensor:
        """What the diagnostics watch: the activations and fixed projections of E."""
        if self.projection is None:
            gen = torch.Generator().manual_seed(0)
            dim = view.feats.shape[1]
            proj = torch.randn(dim, self.job.config.projections, generator=gen) / math.sqrt(dim)
            self.projection = proj.to(view.feats.device)
        return torch.cat([view.acts[i], view.feats[i] @ self.projection]).detach().cpu()

    def _arrive(self, i: int, view: Evaluation) -> None:
        """Chain ``i``'s state is now its evaluated code: remember its series and input (a
        transition that stays there traces and keeps them again)."""
        self.here[i] = (self._series(i, view), view.inputs[i].detach().clone())

    def _record(self, i: int) -> None:
        self.trace[i].append(self.here[i][0])

    def _transition(self, i: int, exact: bool) -> None:
        """Chain ``i`` completed a transition (moved or stayed): trace its state, and keep
        it if it is due. An independence proposal in band (``exact``) is an exact draw of
        the target, independent of the chain's past: it is kept at once and ends any
        burn-in."""
        if exact:
            self.burn[i] = 0
        self.since[i] += 1
        if self.burn[i] > 0:  # burn-in: not traced (the seed's pull would inflate the IAT)
            self.burn[i] -= 1
            return
        self._record(i)
        if exact:
            self._keep(i, "prior")
        elif self.since[i] >= self.thin:
            self._keep(i, self.label)

    def _keep(self, i: int, label: str) -> None:
        job = self.job
        if len(job.collector) >= job.problem.n:
            return
        job.collector.add(self.state[i : i + 1].clone(), self.here[i][1][None], label,
                          job.counts["sample_steps"], torch.tensor([i]))
        self.kept[i].append(self.trace[i][-1])
        self.since[i] = 0

    def _finished(self) -> bool:
        """Done, budget spent, or no chain ever in band after ``max_seed_steps``."""
        job, cfg = self.job, self.job.config
        spent = job.counts["evals_forward"] + 2 * job.counts["evals_backward"]
        over = spent >= cfg.budget * job.problem.n
        hopeless = not self.ever_in_band and job.counts["seed_steps"] >= cfg.max_seed_steps
        if len(job.collector) >= job.problem.n or over or hopeless:
            self._report()
            job.finish("infeasible" if not self.ever_in_band else "done")
            return True
        return False

    def _adapt_thin(self) -> None:
        """thin = the integrated autocorrelation time of the traced transitions, rounded."""
        if self.job.config.thin or self.job.counts["sample_steps"] % THIN_EVERY:
            return
        chains = [torch.stack(t) for t in self.trace if len(t) >= 4]
        if chains:
            tau = float(integrated_time(chains).max())
            self.thin = int(min(MAX_THIN, max(1, math.ceil(tau))))

    def _report(self) -> None:
        """Diagnostics of the kept samples and the transitions into the job's stats."""
        kept = [torch.stack(k) for k in self.kept if k]
        traced = [torch.stack(t) for t in self.trace if t]
        whole = summary(traced)
        self.job.diagnostics = {
            **summary(kept),
            "thin": self.thin,
            "independence_tries": self.indep,
            "prior_rate": self.draws[1] / self.draws[0] if self.draws[0] else None,
            "iat_transitions": whole["iat"],
            "transitions": sum(len(t) for t in self.trace),
            "chains_exploring": int((self.mode == EXPLORING).sum()),
            **getattr(self.kernel, "counts", {}),
        }


def _kernel(job: JobState, device: torch.device) -> SliceKernel | BounceKernel:
    """The exploring chains' kernel: ``config.kernel`` (``slice`` or ``bounce``)."""
    cfg, k = job.config, job.config.k
    if cfg.kernel == "bounce":
        return BounceKernel(job.prior, k, job.code_dim, job.rng, device, cfg.bounce_step,
                            cfg.bounce_time)
    return SliceKernel(job.prior, k, job.code_dim, job.rng, device)
