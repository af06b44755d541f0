"""Run many sampling problems at once: their chains share every forward and backward.

Each iteration concatenates the current codes of every unfinished job, runs G, the
network's neurons f and the encoder E once on the whole batch, splits the result per
job, and lets each job's phase accept samples and move. Jobs draw their random numbers
from their own seeded stream, so a job's result does not depend on what it was packed
with. A finished job is verified and yielded at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.layers import model_device
from pipeline.models.readout import Readout
from pipeline.models.transforms import RandomTransforms
from pipeline.sampler.baselines import Langevin, MultiStart
from pipeline.sampler.config import Problem, SamplerConfig
from pipeline.sampler.job import Job, Phase
from pipeline.sampler.sampleset import SampleSet
from pipeline.sampler.seeds import SeedPhase
from pipeline.sampler.verify import finalize

Progress = Callable[[int, int], None]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels in the forward pass; the gradient passes straight through."""
    stored = (x.clamp(0, 1) * 255).round() / 255
    return x + (stored - x).detach()


def _first_phase(job: Job) -> Phase:
    cfg = job.config
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


def iter_problems(
    generator: nn.Module,
    encoder: Callable[[torch.Tensor], torch.Tensor] | None,
    problems: Sequence[Problem],
    config: SamplerConfig | None = None,
    transform: RandomTransforms | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[int, SampleSet]]:
    """Sample every problem, packed in one batch; yield ``(index, SampleSet)`` as each ends.

    ``generator`` is G (an nn.Module with ``code_dim``), ``encoder`` E (``None``: the
    inputs themselves), ``transform`` optional random transforms applied to G(c) during
    optimisation only. ``progress(samples_done, samples_wanted)`` is called per iteration.
    """
    config = config or SamplerConfig()
    code_dim = getattr(generator, "code_dim", None)
    if not isinstance(code_dim, int) or code_dim < 1:
        raise ConfigError("the generator needs an int attribute code_dim (the length of its codes)")
    device = model_device(generator)
    init_std = config.init_std or float(getattr(generator, "init_std", 1.0))
    bounds = getattr(generator, "code_bounds", None)
    probes = [c[0] for p in problems for c in p.constraints]
    readout = Readout(probes, encoder)
    columns, start = [], 0
    for problem in problems:
        columns.append(slice(start, start + len(problem.constraints)))
        start += len(problem.constraints)
    jobs = [Job(p, config, device, code_dim, init_std, bounds) for p in problems]
    for job in jobs:
        job.phase = _first_phase(job)
    active = list(range(len(jobs)))
    wanted = sum(p.n for p in problems)
    generator.eval()
    while active:
        batch = [jobs[i] for i in active]
        sizes = [job.phase.codes.shape[0] for job in batch]
        codes = torch.cat([job.phase.codes for job in batch]).detach().requires_grad_(True)
        x = generator(codes)
        stored = quantize(x) if config.quantize else x
        seen = stored
        if transform is not None:
            pieces = stored.split(sizes)
            seen = torch.cat(
                [transform(piece, job.rng) for piece, job in zip(pieces, batch, strict=True)]
            )
        acts_all, feats_all = readout(seen)
        if feats_all is None:
            feats_all = seen.flatten(1)
        losses, parts = [], []
        for job, sl, rows in zip(
            batch, [columns[i] for i in active], _row_slices(sizes), strict=True
        ):
            acts, feats = acts_all[rows, sl], feats_all[rows]
            losses.append(job.phase.loss(codes[rows], acts, feats))
            parts.append((acts, feats))
        total = torch.stack(losses).sum()
        grad = (
            torch.autograd.grad(total, codes, allow_unused=True)[0] if total.requires_grad else None
        )
        if grad is None:
            grad = torch.zeros_like(codes)
        if transform is not None:
            with torch.no_grad():
                acts_all, feats_all = readout(stored)
                feats_all = stored.flatten(1) if feats_all is None else feats_all
            parts = [
                (acts_all[rows, columns[i]], feats_all[rows])
                for i, rows in zip(active, _row_slices(sizes), strict=True)
            ]
        still = []
        for i, job, rows, (acts, feats) in zip(
            active, batch, _row_slices(sizes), parts, strict=True
        ):
            job.phase = job.phase.advance(
                grad[rows], acts.detach(), feats.detach(), stored[rows].detach()
            )
            if job.phase is None:
                yield i, finalize(job, readout, [columns[i]][0], tuple(stored.shape[1:]))
            else:
                still.append(i)
        active = still
        if progress is not None:
            progress(sum(len(jobs[i].collector) for i in range(len(jobs))), wanted)


def _row_slices(sizes: Sequence[int]) -> list[slice]:
    out, start = [], 0
    for size in sizes:
        out.append(slice(start, start + size))
        start += size
    return out


def sample_problems(
    generator: nn.Module,
    encoder: Callable[[torch.Tensor], torch.Tensor] | None,
    problems: Sequence[Problem],
    config: SamplerConfig | None = None,
    transform: RandomTransforms | None = None,
    progress: Progress | None = None,
) -> list[SampleSet]:
    """Like :func:`iter_problems`, but return all results in the order of ``problems``."""
    results: list[SampleSet | None] = [None] * len(problems)
    for i, result in iter_problems(generator, encoder, problems, config, transform, progress):
        results[i] = result
    return results  # type: ignore[return-value]
