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
from pipeline.sampler.job import Job, Phase, View
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
    columns = _row_slices([len(p.constraints) for p in problems])
    jobs = [Job(p, config, device, code_dim, init_std, bounds) for p in problems]
    for job in jobs:
        job.phase = _first_phase(job)
    active = list(range(len(jobs)))
    wanted = sum(p.n for p in problems)
    generator.eval()
    while active:
        batch = [(jobs[i], columns[i]) for i in active]
        views = _iterate(generator, readout, batch, config.quantize, transform)
        still = []
        for i, (job, cols), view in zip(active, batch, views, strict=True):
            job.phase = job.phase.advance(view)
            if job.phase is None:
                yield i, finalize(job, readout, cols, tuple(view.inputs.shape[1:]))
            else:
                still.append(i)
        active = still
        if progress is not None:
            progress(sum(len(job.collector) for job in jobs), wanted)


def _iterate(
    generator: nn.Module,
    readout: Readout,
    batch: list[tuple[Job, slice]],
    quantise: bool,
    transform: RandomTransforms | None,
) -> list[View]:
    """One forward and backward over the chains of every job in ``batch``."""
    sizes = [job.phase.codes.shape[0] for job, _ in batch]
    rows = _row_slices(sizes)
    codes = torch.cat([job.phase.codes for job, _ in batch]).detach().requires_grad_(True)
    stored = generator(codes)
    if quantise:
        stored = quantize(stored)
    seen = stored
    if transform is not None:
        pieces = stored.split(sizes)
        seen = torch.cat([transform(x, job.rng) for x, (job, _) in zip(pieces, batch, strict=True)])
    acts_all, feats_all = readout(seen)
    feats_all = seen.flatten(1) if feats_all is None else feats_all
    finite = torch.isfinite(acts_all).all(dim=1) & torch.isfinite(feats_all).all(dim=1)
    acts_all = torch.where(finite[:, None], acts_all, torch.zeros_like(acts_all))
    feats_all = torch.where(finite[:, None], feats_all, torch.zeros_like(feats_all))
    losses = [
        job.phase.loss(codes[r], acts_all[r, cols], feats_all[r])
        for (job, cols), r in zip(batch, rows, strict=True)
    ]
    grads = _gradients(codes, torch.stack(losses).sum(), acts_all, batch, rows)
    for grad in grads:
        finite &= torch.isfinite(grad).all(dim=1)
    grads = [torch.where(finite[:, None], g, torch.zeros_like(g)) for g in grads]
    if transform is not None:
        with torch.no_grad():
            acts_all, feats_all = readout(stored)
            feats_all = stored.flatten(1) if feats_all is None else feats_all
    return [
        View(
            grad=grads[0][r],
            normals=[g[r] for g in grads[1 : 1 + len(job.problem.bands)]]
            if job.phase.wants_normals
            else [],
            acts=acts_all[r, cols].detach(),
            feats=feats_all[r].detach(),
            inputs=stored[r].detach(),
            finite=finite[r],
        )
        for (job, cols), r in zip(batch, rows, strict=True)
    ]


def _gradients(
    codes: torch.Tensor,
    total: torch.Tensor,
    acts: torch.Tensor,
    batch: list[tuple[Job, slice]],
    rows: list[slice],
) -> list[torch.Tensor]:
    """d total / d codes, then d f_j / d codes per constraint j for jobs that want normals."""
    normal_jobs = [
        (job, cols, r)
        for (job, cols), r in zip(batch, rows, strict=True)
        if job.phase.wants_normals
    ]
    count = max((len(job.problem.bands) for job, _, _ in normal_jobs), default=0)
    outputs = [total] + [
        sum(acts[r, cols][:, j].sum() for job, cols, r in normal_jobs if j < len(job.problem.bands))
        for j in range(count)
    ]
    grads = []
    for i, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            grads.append(torch.zeros_like(codes))
            continue
        keep = i < len(outputs) - 1
        grad = torch.autograd.grad(out, codes, retain_graph=keep, allow_unused=True)[0]
        grads.append(torch.zeros_like(codes) if grad is None else grad)
    return grads


def _row_slices(sizes: Sequence[int]) -> list[slice]:
    """Consecutive slices of the given sizes (rows of each job, or its constraint columns)."""
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
