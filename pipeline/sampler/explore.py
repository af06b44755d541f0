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
from pipeline.sampler.draws import DrawnCodes, Draws
from pipeline.sampler.job import Evaluation, JobState, Phase, row_index, row_mask
from pipeline.sampler.seeds import ChainSeeds
from pipeline.sampler.slice import SliceKernel
from pipeline.sampler.traces import Traces

FRESH, SEEDING, EXPLORING = 0, 1, 2
MAX_THIN = 50
THIN_EVERY = 8
MIN_RATE = 0.01


class ExplorePhase(DrawnCodes):
    """K independent chains: prior draws, seeding where needed, then slice sampling.

    The chains' modes and counters live in host lists (one host copy of the acceptance
    per iteration instead of a small tensor operation per update); codes stay tensors,
    their prior draws mapped once per batch (:class:`~pipeline.sampler.draws.DrawnCodes`)."""

    wants_normals = False

    def __init__(self, job: JobState) -> None:
        cfg, k = job.config, job.config.k
        self.job = job
        self.drawn = Draws(job)
        self.codes = job.init_codes(k)
        self.mode = [FRESH] * k
        self.tries = [1] * k
        self.state = self.codes.clone()
        self.indep_left = [0] * k
        self.indep: int | None = None
        self.prior_draws = [0, 0]  # first draws and independence proposals: made, in band
        self.seeds = ChainSeeds(job, k, self.codes)
        self.kernel = _kernel(job, self.codes.device)
        self.label = "bounce" if cfg.kernel == "bounce" else "ess"
        self.here: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * k
        self.since = [0] * k
        self.burn = [0] * k
        self.trace = Traces(k)
        self.kept: list[list[torch.Tensor]] = [[] for _ in range(k)]
        self.keeping: list[tuple[int, str]] = []  # (chain, label) kept this iteration
        self.thin = cfg.thin or 2
        self.projection: torch.Tensor | None = None
        self.ever_in_band = False
        self.seeding_mask: torch.Tensor | None = None
        self.none: torch.Tensor | None = None  # the all-False chain mask
        self.grad_mask: torch.Tensor | None = None

    def _seeding_rows(self) -> torch.Tensor:
        """The seeding chains (bool), kept until :meth:`advance` changes the modes (with
        none, one all-False mask kept for the job)."""
        if self.seeding_mask is None:
            seeding = [i for i, m in enumerate(self.mode) if m == SEEDING]
            if seeding:
                self.seeding_mask = row_mask(seeding, self.codes)
            else:
                self.none = row_mask([], self.codes) if self.none is None else self.none
                self.seeding_mask = self.none
        return self.seeding_mask

    def grad_rows(self) -> torch.Tensor:
        """Seeding chains, and exploring chains whose kernel asks for a gradient (kept until
        :meth:`advance`, the only place modes and kernel states change; the slice kernel
        never asks)."""
        if self.grad_mask is None:
            self.grad_mask = self._seeding_rows()
            if self.kernel.wants_gradients:
                self.grad_mask = self.grad_mask | self.kernel.grad_rows().to(self.codes.device)
        return self.grad_mask

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """The seeding chains' penalty (their own lambda and mu; no diversity term), plus
        the kernel's (the bounce kernel's out-of-band midpoints, rows disjoint)."""
        penalty = self.seeds.lagrangian.penalty_rows(acts, self._seeding_rows())
        if not self.kernel.wants_gradients:  # (no gradient rows: nothing to add)
            return penalty
        return penalty + self.kernel.loss(acts, self.job.width)

    def advance(self, view: Evaluation) -> Phase | None:
        """Update every chain by its mode, then finish or propose the next codes."""
        job = self.job
        self.seeding_mask = self.grad_mask = None
        job.track_best(view.acts, view.finite)
        hits, finite = view.hits, view.finite_rows
        job.counts["reset"] += finite.count(False)  # rejected like any miss
        self.ever_in_band |= any(hits)
        rows: dict[int, list[int]] = {FRESH: [], SEEDING: [], EXPLORING: []}
        for i, mode in enumerate(self.mode):  # the modes at the start: the steps change them
            rows[mode].append(i)
        if rows[SEEDING]:
            job.counts["seed_steps"] += 1
        if rows[EXPLORING]:
            job.counts["sample_steps"] += 1
        if rows[FRESH]:
            self._fresh(view, hits, rows[FRESH])
        if rows[SEEDING]:
            self._seeding(view, hits, finite, rows[SEEDING])
        self._exploring(view, hits, rows[EXPLORING])
        self._flush()
        self._adapt_thin()
        if self._finished():
            return None
        self._propose()
        return self

    def _propose(self) -> None:
        """Next codes of exploring chains: a prior draw while independence proposals are
        left, else the slice kernel's proposal."""
        exploring = [i for i, m in enumerate(self.mode) if m == EXPLORING]
        drawing = [i for i in exploring if self.indep_left[i] > 0]
        if len(drawing) < len(exploring):  # (else none needs the kernel's: no side effects)
            proposals = self.kernel.proposals()  # a new tensor
            if len(exploring) < len(self.mode):
                mask = row_mask(exploring, self.codes)[:, None]
                proposals = torch.where(mask, proposals, self.codes)
            self.codes = proposals
        if drawing:
            self.drawn.add(drawing)

    def _fresh(self, view: Evaluation, hits: list[bool], rows: list[int]) -> None:
        """Prior draws: in band -> an exact sample, explore; else draw again, or seed."""
        job = self.job
        hit = [i for i in rows if hits[i]]
        self.prior_draws[0] += len(rows)
        self.prior_draws[1] += len(hit)
        self._begin(view, hit, exact=True)
        miss = [i for i in rows if not hits[i]]
        again = [i for i in miss if self.tries[i] < job.config.prior_tries]
        if again:
            self.drawn.add(again)
            for i in again:
                self.tries[i] += 1
        seed = [i for i in miss if i not in again]
        if seed:
            for i in seed:
                self.mode[i] = SEEDING
            self.seeds.restart(seed)

    def _seeding(
        self, view: Evaluation, hits: list[bool], finite: list[bool], rows: list[int]
    ) -> None:
        """Seeded chains that reached the band explore (after a burn-in); the others step;
        stuck ones start again from a fresh prior draw."""
        job = self.job
        self._begin(view, [i for i in rows if hits[i]], exact=False)
        stepping = [i for i in rows if not hits[i]]
        if not stepping:
            return
        codes, stuck = self.seeds.step(self.codes, view, [i for i in stepping if finite[i]])
        self.codes = codes
        restart = sorted({i for i in stepping if not finite[i]} | set(stuck))
        if restart:
            job.counts["reseeded"] += len(restart)
            self.drawn.add(restart)
            for i in restart:
                self.mode[i], self.tries[i] = FRESH, job.config.prior_tries

    def _exploring(self, view: Evaluation, hits: list[bool], rows: list[int]) -> None:
        """An independence proposal in band completes a transition, a missed one uses up one
        try (the last starts the kernel); the kernel says which of its chains ended their
        transition and which of those moved (the others stay at their state)."""
        if not rows:
            self._independence_tries()
            return
        self.job.counts["tried"] += len(rows)
        drawing = [i for i in rows if self.indep_left[i] > 0]
        ended, moved = self._observe(view, hits, [i for i in rows if not self.indep_left[i]])
        exact = [i for i in drawing if hits[i]]
        if drawing:
            self.prior_draws[0] += len(drawing)
            self.prior_draws[1] += len(exact)
            missed = [i for i in drawing if not hits[i]]
            for i in missed:
                self.indep_left[i] -= 1
            self._start_kernel([i for i in missed if self.indep_left[i] == 0])
        done = sorted(ended.union(exact))
        if not done:
            self._independence_tries()
            return
        arrived = [i for i in done if i in moved or i in exact]
        if arrived:
            index = row_index(arrived, self.codes)
            self.state[index] = self.codes[index]
            self._arrive(arrived, index, view)
        for i in done:
            self._transition(i, i in exact)
        self._next_transition(done)

    def _observe(
        self, view: Evaluation, hits: list[bool], rows: list[int]
    ) -> tuple[set[int], set[int]]:
        """The kernel's chains ``rows`` after their evaluation: those whose transition ended,
        and those of them that moved (a kernel with no rows has nothing to observe)."""
        if not rows:
            return set(), set()
        return self.kernel.observed(rows, view, hits, self.job.lo, self.job.hi, self.burn)

    def _independence_tries(self) -> int:
        """r = ceil(2 / q-hat), q-hat the share of all prior draws so far (the chains' first
        draws and the independence proposals) in band; 0 where q-hat < 1%."""
        made, hits = self.prior_draws
        rate = hits / made if made else 0.0
        use = self.job.config.independence and rate >= MIN_RATE
        self.indep = math.ceil(2 / rate) if use else 0
        return self.indep

    def _next_transition(self, rows: list[int]) -> None:
        """Start a transition of ``rows`` from their current state."""
        tries = self._independence_tries()
        for i in rows:
            self.indep_left[i] = tries
        if not tries:
            self._start_kernel(rows)

    def _start_kernel(self, rows: list[int]) -> None:
        """Start the kernel's transition of ``rows`` from their current state."""
        if rows:
            index = row_index(rows, self.codes)
            self.kernel.start(index, self.state[index])

    def _begin(self, view: Evaluation, rows: list[int], exact: bool) -> None:
        """Chains in band for the first time in this run: explore from here. An exact prior
        draw is kept at once; a seed first runs ``burn_in`` transitions."""
        if not rows:
            return
        index = row_index(rows, self.codes)
        self.state[index] = self.codes[index]
        self._arrive(rows, index, view)
        burn = self.job.config.burn_in if not exact or self.kernel.adaptive else 0
        for i in rows:
            self.mode[i] = EXPLORING
            self.since[i], self.burn[i] = 0, burn
            if exact:
                self._record(i)
                self._keep(i, "prior")
        self._next_transition(rows)

    def _series(self, index: torch.Tensor, view: Evaluation) -> torch.Tensor:
        """What the diagnostics watch, one row per chain of ``index``: the activations and
        fixed projections of E."""
        if self.projection is None:
            gen = torch.Generator().manual_seed(0)
            dim = view.feats.shape[1]
            proj = torch.randn(dim, self.job.config.projections, generator=gen) / math.sqrt(dim)
            self.projection = proj.to(view.feats.device)
        return torch.cat([view.acts[index], view.feats[index] @ self.projection], dim=1).cpu()

    def _arrive(self, rows: list[int], index: torch.Tensor, view: Evaluation) -> None:
        """Chains ``rows`` (``index``: the same as a tensor) are now at their evaluated codes:
        remember their series and inputs (a transition that stays there traces and keeps
        them again). One gather of each for all of them: rows of new tensors."""
        series, inputs = self._series(index, view), view.inputs[index]
        for j, i in enumerate(rows):
            self.here[i] = (series[j], inputs[j])

    def _record(self, i: int) -> None:
        self.trace.append(i, self.here[i][0])

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
        """Keep chain ``i``'s state (added to the job's samples by :meth:`_flush`), unless
        the job has its n."""
        if len(self.job.collector) + len(self.keeping) >= self.job.problem.n:
            return
        self.keeping.append((i, label))
        self.kept[i].append(self.trace.last(i))
        self.since[i] = 0

    def _flush(self) -> None:
        """Add this iteration's kept states to the job's samples, in the order kept (one
        gather of their codes and one stack of their inputs)."""
        if not self.keeping:
            return
        rows, labels = (list(column) for column in zip(*self.keeping, strict=True))
        self.keeping = []
        codes = self.state[row_index(rows, self.state)]
        inputs = torch.stack([self.here[i][1] for i in rows])
        self.job.collector.add(codes, inputs, labels, self.job.counts["sample_steps"], rows)

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
        chains = self.trace.chains(min_length=4)
        if chains:
            tau = float(integrated_time(chains).max())
            self.thin = int(min(MAX_THIN, max(1, math.ceil(tau))))

    def _report(self) -> None:
        """Diagnostics of the kept samples and the transitions into the job's stats."""
        kept = [torch.stack(k) for k in self.kept if k]
        whole = summary(self.trace.chains())
        made, hits = self.prior_draws
        self.job.diagnostics = {
            **summary(kept),
            "thin": self.thin,
            "independence_tries": self.indep,
            "prior_rate": hits / made if made else None,
            "iat_transitions": whole["iat"],
            "transitions": self.trace.total(),
            "chains_exploring": self.mode.count(EXPLORING),
            **getattr(self.kernel, "counts", {}),
        }


def _kernel(job: JobState, device: torch.device) -> SliceKernel | BounceKernel:
    """The exploring chains' kernel: ``config.kernel`` (``slice`` or ``bounce``)."""
    cfg, k = job.config, job.config.k
    if cfg.kernel == "bounce":
        return BounceKernel(job.prior, k, job.code_dim, job.draws, device, cfg.bounce_step,
                            cfg.bounce_time)
    return SliceKernel(job.prior, k, job.code_dim, job.draws, device)
