"""The state of one sampling job as it moves through its phases."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import torch

from pipeline.models.priors import Prior, draw_codes
from pipeline.sampler.config import Problem, SamplerConfig
from pipeline.sampler.diversity import AcceptedSet, within
from pipeline.sampler.lagrangian import violation
from pipeline.sampler.sampleset import Collector


@dataclass
class Evaluation:
    """What one iteration computed for a job's chains, at their current codes.

    ``grad`` is d(loss)/d(codes) (zeros on rows evaluated without gradients); ``normals``
    holds d f_j / d(codes) per constraint (only for phases that ask for them); ``acts``,
    ``feats`` are f and E of the stored ``inputs`` = G(codes). ``finite`` marks chains
    whose activations, features and gradients are all finite; the others have zeros there
    and must be reset. ``ok`` marks the finite chains inside every band (no margin);
    ``hits`` and ``finite_rows`` are ``ok`` and ``finite`` on the host (read once for the
    whole batch).
    """

    grad: torch.Tensor
    normals: list[torch.Tensor]
    acts: torch.Tensor
    feats: torch.Tensor
    inputs: torch.Tensor
    finite: torch.Tensor
    ok: torch.Tensor
    hits: list[bool]
    finite_rows: list[bool]


class Phase(Protocol):
    """One stage of a job: it owns the chains' codes and moves them once per iteration."""

    codes: torch.Tensor
    wants_normals: bool

    def grad_rows(self) -> torch.Tensor:
        """Per chain, whether this iteration needs d(loss)/d(codes) (others: forward only)."""

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """The objective this phase minimises at ``codes`` (a scalar)."""

    def advance(self, view: Evaluation) -> Phase | None:
        """Accept samples at the evaluated codes, move, and return the next phase (None: done)."""


class GradientPhase:
    """Mixin for phases whose every chain takes a gradient step each iteration."""

    codes: torch.Tensor

    def grad_rows(self) -> torch.Tensor:
        """All chains need d(loss)/d(codes)."""
        return torch.ones(self.codes.shape[0], dtype=torch.bool, device=self.codes.device)


class JobState:
    """Everything one problem needs between iterations: random stream, bands, samples."""

    def __init__(
        self,
        problem: Problem,
        config: SamplerConfig,
        device: torch.device,
        code_dim: int,
        prior: Prior,
    ) -> None:
        self.problem, self.config, self.device = problem, config, device
        self.code_dim, self.prior = code_dim, prior
        self.init_std, self.code_bounds = prior.scale, prior.bounds
        self.rng = torch.Generator().manual_seed(int(problem.seed))
        self.draws = _draw_stream(self.rng, device, int(problem.seed))
        bands = torch.tensor(problem.bands, dtype=torch.float32, device=device)
        self.lo, self.hi = bands[:, 0], bands[:, 1]
        self.width = self.hi - self.lo
        self.collector = Collector()
        self.accepted: AcceptedSet | None = None
        self.counts = {
            "seed_steps": 0,
            "sample_steps": 0,
            "outer_iterations": 0,
            "tried": 0,
            "reseeded": 0,
            "reset": 0,
            "evals_forward": 0,
            "evals_backward": 0,
        }
        self.multipliers: dict[str, float] = {}
        self.diagnostics: dict[str, object] = {}
        self.best_violation = float("inf")
        self.best_acts: list[float] | None = None
        self.feature_scale: float | None = None
        self.status = "running"
        self.started = time.perf_counter()
        self.wall_seconds = 0.0
        self.phase: Phase | None = None

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal draws from this job's own stream of large draws (:attr:`draws`)."""
        return torch.randn(*shape, generator=self.draws, device=self.draws.device).to(self.device)

    def init_codes(self, chains: int) -> torch.Tensor:
        """Initial codes drawn from the prior; one shared draw when ``same_init``.

        With ``same_init`` every chain gets the same code plus a jitter of 1e-3 of the
        prior's scale: exactly equal codes are a stationary point of the diversity term D,
        so without it nothing could separate them.
        """
        if self.config.same_init:
            shared = draw_codes(self.prior, 1, self.code_dim, self.draws).expand(chains, -1)
            jitter = self.randn(chains, self.code_dim)
            shared = shared + 1e-3 * self.prior.scale * jitter
            return self.project(shared.to(self.device))
        return self.prior_draws(chains)

    def prior_draws(self, count: int) -> torch.Tensor:
        """``count`` independent draws from the prior (``same_init`` does not apply: these are
        the exact proposals and fresh restarts of the default sampler)."""
        return draw_codes(self.prior, count, self.code_dim, self.draws).to(self.device)

    def project(self, codes: torch.Tensor) -> torch.Tensor:
        """Clip codes into the prior's box, if it has one."""
        if self.code_bounds is None:
            return codes
        return codes.clamp(*self.code_bounds)

    def diversity(
        self, codes: torch.Tensor, feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The points diversity is measured on (E-features, codes, or none) and their scale."""
        points = codes if self.config.diversity == "code" else feats
        if self.feature_scale is None:
            self.feature_scale = float((points.detach() ** 2).sum(dim=1).mean()) + 1e-12
        return points, torch.tensor(self.feature_scale, device=points.device)

    def within_term(self, codes: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """gamma * D(C) / (K^2 scale): the normalised diversity among the K chains."""
        if self.config.diversity == "none":
            return codes.new_zeros(())
        points, scale = self.diversity(codes, feats)
        k = points.shape[0]
        return self.config.diversity_weight * within(points) / (k * k * scale)

    def restart(self, codes: torch.Tensor, bad: torch.Tensor) -> torch.Tensor:
        """``codes`` with the ``bad`` rows (non-finite activations or gradients) redrawn."""
        count = int(bad.sum())
        if not count:
            return codes
        self.counts["reset"] += count
        codes = codes.clone()
        codes[bad] = self.init_codes(count)
        return codes

    def track_best(self, acts: torch.Tensor, finite: torch.Tensor) -> None:
        """Remember the activations closest to the band (reported if it is never reached).
        Once a row was in band (gap 0: the first such row is kept), none can be closer."""
        if self.best_violation == 0.0:
            return
        gap = violation(acts, self.lo, self.hi).masked_fill(~finite, float("inf"))
        i = int(gap.argmin())
        if float(gap[i]) < self.best_violation:
            self.best_violation = float(gap[i])
            self.best_acts = acts[i].tolist()

    def count(self, rows: int, backward: bool) -> None:
        """Count ``rows`` forward passes of G (and as many backward ones if ``backward``)."""
        self.counts["evals_forward"] += rows
        if backward:
            self.counts["evals_backward"] += rows

    def finish(self, status: str) -> None:
        """Mark the job finished and stop its clock: ``done`` becomes ``partial`` when fewer
        than n samples were collected; ``infeasible`` means the bands were never reached."""
        if status == "done" and len(self.collector) < self.problem.n:
            status = "partial"
        self.status = status
        self.wall_seconds = time.perf_counter() - self.started


def row_mask(rows: list[int], like: torch.Tensor) -> torch.Tensor:
    """A bool tensor over the chains of ``like`` (its rows), True at ``rows``."""
    flags = [False] * like.shape[0]
    for i in rows:
        flags[i] = True
    return torch.tensor(flags, device=like.device)


def row_index(rows: list[int], like: torch.Tensor) -> torch.Tensor:
    """``rows`` as an index tensor on the device of ``like``."""
    return torch.tensor(rows, dtype=torch.long, device=like.device)


def _draw_stream(rng: torch.Generator, device: torch.device, seed: int) -> torch.Generator:
    """The stream of a job's large draws (codes, directions: ``code_dim`` values a chain):
    ``rng`` itself on a CPU; on a GPU a generator on the device seeded alike, since drawing
    10 x 49,920 normals on the CPU and copying them over cost 1.8 ms a job and iteration on
    an H200 machine against 0.012 ms on the device (bench/GPU.md). Reproducible per device
    type: a seed gives the same samples on every CPU, and on every GPU, not across them."""
    if device.type == "cpu":
        return rng
    return torch.Generator(device=device).manual_seed(seed)

