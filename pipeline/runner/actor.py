"""The worker an actor runs: models loaded once, several jobs sampled in one packed batch.

The class is plain Python (``pool`` wraps it with ``ray.remote``), so it also runs
in-process. It returns each job's samples as an Arrow table built by the store's pure
row builders; writing files is left to the driver.
"""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import torch

from pipeline.errors import ConfigError
from pipeline.models.transforms import RandomTransforms
from pipeline.runner.job import Job
from pipeline.runner.models import Models
from pipeline.runner.ranges import observed_ranges, to_absolute
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.store import samples_table


@dataclass
class Outcome:
    """What became of one job on a worker: ``done``, ``partial``, ``infeasible`` or ``error``.

    An error is ``retryable`` unless it is a :class:`ConfigError` (the same every time).
    """

    job_id: str
    status: str
    samples: pa.Table | None = None
    bands: list[tuple[float, float]] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = True
    device: str | None = None
    host: str | None = None


def pick_device(setting: str) -> torch.device:
    """``auto``: the actor's GPU when Ray gave it one (torch sees it), else the CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def _error(job: Job, err: BaseException) -> Outcome:
    text = f"{type(err).__name__}: {err}".replace("\n", " ")[:2000]
    return Outcome(job.job_id, "error", error=text, retryable=not isinstance(err, ConfigError))


class Worker:
    """Holds G, E and the neurons of one model setting on one device; samples job batches."""

    def __init__(
        self,
        model: dict[str, Any],
        device: str = "auto",
        threads: int = 1,
        cache_dir: str | None = None,
    ) -> None:
        torch.set_num_threads(max(1, int(threads)))
        self.device = pick_device(device)
        self.models = Models(model, self.device, cache_dir)
        self._ranges: dict[tuple, tuple[float, float]] = {}

    def describe(self) -> dict[str, Any]:
        """Where this worker runs: device (with the GPU's name), host and process id."""
        name = str(self.device)
        if self.device.type == "cuda":
            name = f"{name} ({torch.cuda.get_device_name(self.device)})"
        return {"device": name, "host": socket.gethostname(), "pid": os.getpid()}

    def _observe(self, jobs: list[Job]) -> None:
        """Measure (once) the observed range of every neuron that has a relative band."""
        wanted: dict[tuple[int, int], set] = defaultdict(set)
        for job in jobs:
            for ref, band in zip(job.neurons, job.bands, strict=True):
                key = (band.codes, band.range_seed)
                if band.scale == "relative" and (ref, *key) not in self._ranges:
                    wanted[key].add(ref)
        for (count, seed), refs in wanted.items():
            refs = sorted(refs, key=lambda r: (r.layer, r.unit, r.spatial))
            neurons = [self.models.neuron(ref) for ref in refs]
            ranges = observed_ranges(self.models.generator, neurons, count, seed, self.device)
            for ref, (low, high) in zip(refs, ranges.tolist(), strict=True):
                self._ranges[(ref, count, seed)] = (low, high)

    def _problem(self, job: Job) -> Problem:
        constraints = []
        for ref, band in zip(job.neurons, job.bands, strict=True):
            observed = self._ranges.get((ref, band.codes, band.range_seed), (0.0, 0.0))
            lo, hi = to_absolute(band, observed, ref.name)
            constraints.append((self.models.neuron(ref), lo, hi))
        return Problem(constraints=constraints, n=job.n, seed=job.sampling_seed, name=job.job_id)

    def run(self, jobs: list[Job]) -> list[Outcome]:
        """Sample ``jobs`` (same sampler settings) packed in one batch; one outcome per job."""
        if any(job.sampler != jobs[0].sampler for job in jobs):
            raise ConfigError("jobs packed in one batch must share their sampler settings")
        outcomes: dict[str, Outcome] = {}
        valid: list[Job] = []
        for job in jobs:
            try:
                for ref in job.neurons:
                    self.models.neuron(ref)
                valid.append(job)
            except Exception as err:  # reported per job: the sweep goes on
                outcomes[job.job_id] = _error(job, err)
        try:
            self._observe(valid)
        except Exception as err:
            outcomes.update({job.job_id: _error(job, err) for job in valid})
            valid = []
        ready: list[tuple[Job, Problem]] = []
        for job in valid:
            try:
                ready.append((job, self._problem(job)))
            except Exception as err:
                outcomes[job.job_id] = _error(job, err)
        if ready:
            settings = dict(jobs[0].sampler)
            transform = settings.pop("transform", None)
            try:
                results = sample_problems(
                    self.models.generator,
                    self.models.encoder,
                    [problem for _, problem in ready],
                    SamplerConfig.from_dict(settings),
                    RandomTransforms(**transform) if transform else None,
                )
            except Exception as err:
                results = [err] * len(ready)
            for (job, problem), result in zip(ready, results, strict=True):
                outcomes[job.job_id] = self._outcome(job, problem, result)
        where = self.describe()
        for outcome in outcomes.values():
            outcome.device, outcome.host = where["device"], where["host"]
        return [outcomes[job.job_id] for job in jobs]

    def _outcome(self, job: Job, problem: Problem, result: Any) -> Outcome:
        if isinstance(result, Exception):
            return _error(job, result)
        try:
            neurons = [ref.as_dict() for ref in job.neurons]
            status = result.status  # done, partial (budget ended before n) or infeasible
            table = samples_table(job.job_id, job.target, neurons, result) if len(result) else None
            return Outcome(job.job_id, status, table, list(problem.bands), dict(result.stats))
        except Exception as err:
            return _error(job, err)
