"""Run many sampling problems at once: their chains share every forward and backward.

Each iteration concatenates the current codes of every unfinished job, runs G, the
network's neurons f and the encoder E once on the whole batch (backward only for the rows
that need gradients, see :mod:`pipeline.sampler.batch`), splits the result per job, and
lets each job's phase accept samples and move. Jobs draw their random numbers from their
own seeded stream, so a job's result does not depend on what it was packed with. A
finished job is verified and yielded at once, and frees its chains' slots for the next
problem (``slots``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.generators import code_prior
from pipeline.models.layers import model_device
from pipeline.models.priors import Prior
from pipeline.models.readout import Readout
from pipeline.models.transforms import RandomTransforms
from pipeline.sampler.baselines import Langevin, MultiStart
from pipeline.sampler.batch import Bands, Batch, evaluate_batch, row_bands, row_slices
from pipeline.sampler.config import Problem, SamplerConfig
from pipeline.sampler.draws import settle
from pipeline.sampler.explore import ExplorePhase
from pipeline.sampler.job import JobState, Phase
from pipeline.sampler.sampleset import SampleSet
from pipeline.sampler.seeds import SeedPhase
from pipeline.sampler.subspace import SubspacePhase
from pipeline.sampler.verify import finalize

ProgressCallback = Callable[[int, int], None]  # (samples done, samples wanted)


def _first_phase(job: JobState) -> Phase:
    cfg = job.config
    if cfg.method == "ess":
        return SubspacePhase(job) if cfg.subspace != "off" else ExplorePhase(job)
    if cfg.method == "fast":
        if job.problem.n < cfg.k:
            raise ConfigError(
                f"n = {job.problem.n} is below k = {cfg.k} chains; ask for n >= k or lower k"
            )
        return SeedPhase(job, cfg.k)
    if cfg.method == "joint":
        return SeedPhase(job, job.problem.n, label="joint")
    if cfg.method == "multistart":
        return MultiStart(job)
    return Langevin(job)


class _Source:
    """Pulls problems from an iterator when their chains fit in ``slots`` (None: all now)."""

    def __init__(self, problems: Iterable[Problem], slots: int | None, make: Callable) -> None:
        bad = isinstance(slots, bool) or not isinstance(slots, int) or slots < 1
        if slots is not None and bad:
            raise ConfigError(f"slots must be a positive int (chains in flight), got {slots!r}")
        self.iterator, self.slots, self.make = iter(problems), slots, make
        self.pending: JobState | None = None
        self.pulled = 0
        self.exhausted = False

    def pull(self, active: dict[int, JobState]) -> None:
        """Add jobs to ``active`` (keyed by pull order) while their chains fit."""
        while True:
            job = self.pending or self._next()
            if job is None:
                return
            in_flight = sum(j.phase.codes.shape[0] for j in active.values())
            fits = self.slots is None or in_flight + job.phase.codes.shape[0] <= self.slots
            if active and not fits:
                self.pending = job
                return
            self.pending = None
            active[self.pulled] = job
            self.pulled += 1

    def _next(self) -> JobState | None:
        if self.exhausted and self.slots is None:
            return None
        try:
            return self.make(next(self.iterator))
        except StopIteration:
            self.exhausted = True
            return None


def iter_problems(
    generator: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    encoder: Callable[[torch.Tensor], torch.Tensor] | None,
    problems: Iterable[Problem],
    config: SamplerConfig | None = None,
    transform: RandomTransforms | None = None,
    progress: ProgressCallback | None = None,
    *,
    slots: int | None = None,
    code_dim: int | None = None,
    prior: Prior | None = None,
) -> Iterator[tuple[int, SampleSet]]:
    """Sample every problem, packed in one batch; yield ``(index, SampleSet)`` as each ends.

    ``generator`` is G (with ``code_dim`` and a ``prior``, or pass them), ``encoder`` E
    (``None``: the inputs themselves), ``transform`` optional random transforms applied to
    G(c) in gradient steps only. ``progress(samples_done, samples_wanted)`` is called per
    iteration. With ``slots=None`` every problem is taken at once; with an int, at most
    that many chains are in flight: a problem is pulled (``next()``, again at later
    iterations even after a ``StopIteration``) when its chains fit beside the active jobs'
    (always at least one job is active). ``index`` is the problem's position in pull order.
    """
    config = config or SamplerConfig()
    code_dim, prior = code_prior(generator, code_dim, prior)
    if config.init_std and prior.gaussian:
        prior = dataclasses.replace(prior, scale=float(config.init_std))
    device = model_device(generator) if isinstance(generator, nn.Module) else torch.device("cpu")

    def make(problem: Problem) -> JobState:
        job = JobState(problem, config, device, code_dim, prior)
        job.phase = _first_phase(job)
        return job

    source = _Source(problems, slots, make)
    readouts = _Readouts(encoder)
    active: dict[int, JobState] = {}
    done = wanted = 0
    if isinstance(generator, nn.Module):
        generator.eval()
    source.pull(active)
    while active:
        wanted = sum(job.problem.n for job in active.values()) + done
        readout, columns = readouts.get(active)
        batch = [(job, columns[i]) for i, job in active.items()]
        views = evaluate_batch(generator, readout, batch, config.quantize, transform,
                               readouts.bands(batch))
        for (i, job), view in zip(list(active.items()), views, strict=True):
            job.phase = job.phase.advance(view)
            if job.phase is None:
                del active[i]
                done += job.problem.n
                yield i, finalize(job, encoder, tuple(view.inputs.shape[1:]))
        settle(job.phase for job in active.values())  # the jobs' prior draws, mapped at once
        if progress is not None:
            in_flight = sum(len(job.collector) for job in active.values())
            progress(done + in_flight, wanted)
        source.pull(active)


class _Readouts:
    """One readout for the neurons of every active job, and each job's columns in it; built
    again only when the active jobs change (a job ends or one is pulled). The same for the
    rows' bands (:func:`~pipeline.sampler.batch.row_bands`), also when a job's rows change."""

    def __init__(self, encoder: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        self.encoder = encoder
        self.jobs: tuple[int, ...] | None = None
        self.current: tuple[Readout, dict[int, slice]] | None = None
        self.layout: tuple[tuple, Bands] | None = None

    def bands(self, batch: Batch) -> Bands:
        """The bands of ``batch``: the active jobs of the last :meth:`get`, in its order."""
        sizes = tuple(job.phase.codes.shape[0] for job, _ in batch)
        if self.layout is None or self.layout[0] != (self.jobs, sizes):
            self.layout = (self.jobs, sizes), row_bands(batch, sizes)
        return self.layout[1]

    def get(self, active: dict[int, JobState]) -> tuple[Readout, dict[int, slice]]:
        """The readout of ``active`` (keyed by pull order, so equal keys: the same jobs)."""
        jobs = tuple(active)
        if self.current is None or jobs != self.jobs:
            probes = [c[0] for job in active.values() for c in job.problem.constraints]
            slices = row_slices([len(job.problem.constraints) for job in active.values()])
            self.jobs = jobs
            self.current = Readout(probes, self.encoder), dict(zip(active, slices, strict=True))
        return self.current


def sample_problems(
    generator: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    encoder: Callable[[torch.Tensor], torch.Tensor] | None,
    problems: Sequence[Problem],
    config: SamplerConfig | None = None,
    transform: RandomTransforms | None = None,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> list[SampleSet]:
    """Like :func:`iter_problems` (same keyword ``options``), but return all results in the
    order of ``problems``."""
    results: list[SampleSet | None] = [None] * len(problems)
    for i, result in iter_problems(
        generator, encoder, problems, config, transform, progress, **options
    ):
        results[i] = result
    return results  # type: ignore[return-value]
