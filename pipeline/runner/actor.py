"""The worker an actor runs: models loaded once, several jobs sampled in one packed batch.

The class is plain Python (``pool`` wraps it with ``ray.remote``), so it also runs
in-process. Given the dataset's folder (``root``), it writes each job's samples shard
itself as soon as the job ends (the driver then only commits the job record); without
one, it returns the shard as an Arrow table for the caller to store.
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
from pipeline.runner.job import JobSpec
from pipeline.runner.models import Models
from pipeline.runner.ranges import observed_ranges, to_absolute
from pipeline.sampler import Problem, SamplerConfig, iter_problems
from pipeline.store import JobRecord, StoreFormat, samples_table, shard_path
from pipeline.store.shards import write_shard


@dataclass
class Outcome:
    """What became of one job on a worker: ``done``, ``partial``, ``infeasible`` or ``error``.

    An error is ``retryable`` unless it is a :class:`ConfigError` (the same every time) or a
    ``fault`` of the environment (the output's filesystem refused a shard: the sweep stops).
    ``samples`` is the shard as a table, or ``written`` its rows when the worker stored it.
    """

    job_id: str
    status: str
    samples: pa.Table | None = None
    bands: list[tuple[float, float]] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = True
    fault: bool = False
    written: int = 0
    device: str | None = None
    host: str | None = None

    @property
    def n_samples(self) -> int:
        """How many samples the job stored (or returned)."""
        return self.samples.num_rows if self.samples is not None else self.written

    def record(self, job: JobSpec, sweep: str, attempts: int = 1) -> JobRecord:
        """The job record of this outcome as the final one of ``job`` (an error: ``failed``)."""
        return JobRecord(
            job_id=job.job_id,
            sweep=sweep,
            target=job.target,
            status="failed" if self.status == "error" else self.status,
            neurons=[ref.as_dict() for ref in job.neurons],
            n_requested=job.n,
            seed=job.sampling_seed,
            config=job.spec(),
            bands=self.bands,
            n_samples=self.n_samples,
            attempts=attempts,
            error=self.error,
            stats=self.stats,
            device=self.device,
            host=self.host,
        )


def pick_device(setting: str) -> torch.device:
    """``auto``: the actor's GPU when Ray gave it one (torch sees it), else the CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def _error(job: JobSpec, err: BaseException, fault: bool = False) -> Outcome:
    text = f"{type(err).__name__}: {err}".replace("\n", " ")[:2000]
    retry = not fault and not isinstance(err, ConfigError)
    return Outcome(job.job_id, "error", error=text, retryable=retry, fault=fault)


class Worker:
    """Holds G, E and the neurons of one model setting on one device; samples job batches."""

    def __init__(
        self,
        model: dict[str, Any],
        device: str = "auto",
        threads: int = 1,
        cache_dir: str | None = None,
        root: str | None = None,
        fmt: StoreFormat | None = None,
    ) -> None:
        """``root``: the dataset folder this worker writes its shards to (None: it returns
        them); ``fmt``: how samples are stored."""
        torch.set_num_threads(max(1, int(threads)))
        self.root, self.format = root, fmt or StoreFormat()
        self.device = pick_device(device)
        self.models = Models(model, self.device, cache_dir)
        self._ranges: dict[tuple, tuple[float, float]] = {}

    def describe(self) -> dict[str, Any]:
        """Where this worker runs: device (with the GPU's name), host and process id."""
        name = str(self.device)
        if self.device.type == "cuda":
            name = f"{name} ({torch.cuda.get_device_name(self.device)})"
        return {"device": name, "host": socket.gethostname(), "pid": os.getpid()}

    def _observe(self, jobs: list[JobSpec]) -> None:
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

    def _problem(self, job: JobSpec) -> Problem:
        constraints = []
        for ref, band in zip(job.neurons, job.bands, strict=True):
            observed = self._ranges.get((ref, band.codes, band.range_seed), (0.0, 0.0))
            lo, hi = to_absolute(band, observed, ref.name)
            constraints.append((self.models.neuron(ref), lo, hi))
        return Problem(constraints=constraints, n=job.n, seed=job.sampling_seed, name=job.job_id)

    def run(self, jobs: list[JobSpec]) -> list[Outcome]:
        """Sample ``jobs`` (same sampler settings) packed in one batch; one outcome per job."""
        if any(job.sampler != jobs[0].sampler for job in jobs):
            raise ConfigError("jobs packed in one batch must share their sampler settings")
        outcomes, ready = self._prepare(jobs)
        if ready:
            outcomes.update(self._sample(ready, jobs[0].sampler))
        where = self.describe()
        for outcome in outcomes.values():
            outcome.device, outcome.host = where["device"], where["host"]
        return [outcomes[job.job_id] for job in jobs]

    def _prepare(
        self, jobs: list[JobSpec]
    ) -> tuple[dict[str, Outcome], list[tuple[JobSpec, Problem]]]:
        """The problems of the jobs that can run, and the error outcomes of the others."""
        outcomes: dict[str, Outcome] = {}
        valid: list[JobSpec] = []
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
        ready: list[tuple[JobSpec, Problem]] = []
        for job in valid:
            try:
                ready.append((job, self._problem(job)))
            except Exception as err:
                outcomes[job.job_id] = _error(job, err)
        return outcomes, ready

    def _sample(
        self, ready: list[tuple[JobSpec, Problem]], sampler: dict[str, Any]
    ) -> dict[str, Outcome]:
        """Sample the problems packed in one batch; each job is stored as soon as it ends."""
        settings = dict(sampler)
        transform = settings.pop("transform", None)
        outcomes: dict[str, Outcome] = {}
        try:
            results = iter_problems(
                self.models.generator,
                self.models.encoder,
                [problem for _, problem in ready],
                SamplerConfig.from_dict(settings),
                RandomTransforms(**transform) if transform else None,
            )
            for index, result in results:
                job, problem = ready[index]
                outcomes[job.job_id] = self._outcome(job, problem, result)
        except Exception as err:  # the jobs that had not ended share the error
            for job, _ in ready:
                outcomes.setdefault(job.job_id, _error(job, err))
        return outcomes

    def _outcome(self, job: JobSpec, problem: Problem, result: Any) -> Outcome:
        """The outcome of a job that ended; its samples shard written here when the worker
        writes its own shards (``root`` given), else returned as a table."""
        try:
            neurons = [ref.as_dict() for ref in job.neurons]
            outcome = Outcome(job.job_id, result.status, bands=list(problem.bands),
                              stats=dict(result.stats))
            if len(result):
                table = samples_table(job.job_id, job.target, neurons, result, self.format)
                self._keep(job, table, outcome)
            return outcome
        except OSError as err:  # the output's filesystem refused the shard
            return _error(job, err, fault=True)
        except Exception as err:
            return _error(job, err)

    def _keep(self, job: JobSpec, table: pa.Table, outcome: Outcome) -> None:
        """Write ``table`` as the job's samples shard (a worker that writes), else attach it."""
        if self.root is None:
            outcome.samples = table
            return
        write_shard(table, shard_path(self.root, job.job_id, *job.partition))
        outcome.written = table.num_rows
