"""The worker an actor runs: models loaded once, several jobs sampled in one packed batch.

The class is plain Python (``pool`` wraps it with ``ray.remote``), so it also runs
in-process. Given the dataset's folder or object-store URI (``root``), it writes each
job's samples shard itself as soon as the job ends, in a writer thread beside the sampling
one (the driver then only commits the job record); without one, it returns the shard as
an Arrow table for the caller to store.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import torch

from pipeline.errors import ConfigError
from pipeline.models.transforms import RandomTransforms
from pipeline.runner.job import JobSpec, NeuronRef
from pipeline.runner.models import Models
from pipeline.runner.ranges import observed_ranges, to_absolute
from pipeline.runner.stream import Feed, Outbox
from pipeline.runner.writer import Writer
from pipeline.sampler import Problem, SamplerConfig, iter_problems
from pipeline.store import JobRecord, StoreFormat, samples_table, write_samples


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


RangeKey = tuple[NeuronRef, int, int]  # a neuron, its range's codes and seed


def relative_neurons(jobs: list[JobSpec]) -> tuple[RangeKey, ...]:
    """The neurons of ``jobs`` that have a relative band, with its range's codes and seed
    (each once, in order)."""
    keys = (
        (ref, band.codes, band.range_seed)
        for job in jobs for ref, band in zip(job.neurons, job.bands, strict=True)
        if band.scale == "relative"
    )
    return tuple(dict.fromkeys(keys))


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
        jobs_per_batch: int = 4,
    ) -> None:
        """``root``: the dataset folder or URI this worker writes its shards to (None: it returns
        them); ``fmt``: how samples are stored; ``jobs_per_batch``: the sampling loop keeps
        that many jobs' chains in flight (``submit``)."""
        torch.set_num_threads(max(1, int(threads)))
        self.root, self.format = root, fmt or StoreFormat()
        self.jobs_per_batch = jobs_per_batch
        self.device = pick_device(device)
        self.models = Models(model, self.device, cache_dir)
        self._ranges: dict[tuple, tuple[float, float]] = {}
        self._expected: list[RangeKey] = []  # neurons to observe with the next pass
        self._unbilled = 0  # rows of range passes not yet counted in a job's stats
        self._ranges_rows: dict[str, int] = {}  # job id -> rows of the range passes it ran
        self._where = self.describe()
        self._feed: Feed | None = None
        self._outbox = Outbox()
        self._writer = Writer(self._outbox.put, lambda job, err: self._stamp(_error(job, err)),
                              depth=jobs_per_batch)
        self._wake = threading.Event()
        self._sampler: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """Where this worker runs: device (with the GPU's name), host and process id."""
        name = str(self.device)
        if self.device.type == "cuda":
            name = f"{name} ({torch.cuda.get_device_name(self.device)})"
        return {"device": name, "host": socket.gethostname(), "pid": os.getpid()}

    def _observe(self, jobs: list[JobSpec], more: tuple[RangeKey, ...] = ()) -> None:
        """Measure (once) the observed range of every neuron that has a relative band in
        ``jobs``, and of the neurons ``more`` names, in one pass per range setting."""
        wanted: dict[tuple[int, int], set] = defaultdict(set)
        for ref, count, seed in (*relative_neurons(jobs), *more):
            if (ref, count, seed) not in self._ranges:
                wanted[(count, seed)].add(ref)
        for (count, seed), refs in wanted.items():
            refs = sorted(refs, key=lambda r: (r.layer, r.unit, r.spatial))
            neurons = [self.models.neuron(ref) for ref in refs]
            ranges = observed_ranges(self.models.generator, neurons, count, seed, self.device)
            self._unbilled += count
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
        return [self._stamp(outcomes[job.job_id]) for job in jobs]

    def _stamp(self, outcome: Outcome) -> Outcome:
        """``outcome`` with where it ran."""
        outcome.device, outcome.host = self._where["device"], self._where["host"]
        return outcome

    # -- continuous batching (pipeline.runner.stream) -------------------------------------

    def submit(self, jobs: list[JobSpec], expected: tuple[RangeKey, ...] = ()) -> int:
        """Queue ``jobs`` for this worker's sampling loop (started on first use) and return
        at once how many wait; their outcomes come from :meth:`collect`. All jobs a worker
        samples share their sampler settings (one sweep's). ``expected``: the relative
        neurons of the jobs it may get later (:func:`relative_neurons` of a sweep's pending
        jobs), observed in the same pass as the first jobs' (one pass of G over the random
        codes serves every neuron), so that the jobs that come later need no pass."""
        self._expected.extend(expected)
        if self._feed is None:
            self._sampler = dict(jobs[0].sampler)
            self._feed = Feed(self._checked, self._reject)
            threading.Thread(target=self._loop, name="sampling", daemon=True).start()
        self._feed.put(jobs)
        self._wake.set()
        return len(self._feed)

    def withdraw(self, count: int) -> list[str]:
        """Take back up to ``count`` queued jobs that have not started (the last queued first)
        and return their ids: the driver hands them to an actor with free slots."""
        return [job.job_id for job in self._feed.take_back(count)] if self._feed else []

    def collect(self, timeout: float = 1.0) -> list[Outcome]:
        """The outcomes of the jobs finished since the last call (waits up to ``timeout`` s
        for one)."""
        return self._outbox.take(timeout)

    def _checked(self, job: JobSpec) -> Problem:
        if job.sampler != self._sampler:
            raise ConfigError("jobs sampled by one worker must share their sampler settings")
        self._observe_ahead([job, *(self._feed.peek() if self._feed else ())])
        return self.prepare(job)

    def _observe_ahead(self, jobs: list[JobSpec]) -> None:
        """Observe the ranges of ``jobs``' neurons and of the expected ones in shared passes
        (one pass of G over the random codes serves every neuron of the model), skipping
        neurons that do not build; if that fails, each job observes its own when prepared
        (and fails alone)."""
        expected = self._expected[:]  # submit() only appends, from another thread
        del self._expected[:len(expected)]
        try:
            self._observe([job for job in jobs if self._buildable(job)],
                          tuple(key for key in expected if self._builds(key[0])))
        except Exception:  # noqa: BLE001 - reported by prepare(), job by job
            return

    def _reject(self, job: JobSpec, err: Exception) -> None:
        self._outbox.put(self._stamp(_error(job, err)))

    def _loop(self) -> None:
        """The sampling thread: whenever jobs wait, run them through the engine with
        ``jobs_per_batch x k`` chain slots, until none is active or waiting. A finished job
        is verified here and stored by the writer thread (:mod:`pipeline.runner.writer`)."""
        settings = dict(self._sampler or {})
        transform = settings.pop("transform", None)
        config = SamplerConfig.from_dict(settings)
        moves = RandomTransforms(**transform) if transform else None
        while True:
            self._wake.wait()
            self._wake.clear()
            while len(self._feed):
                self._drain(config, moves)

    def _drain(self, config: SamplerConfig, moves: RandomTransforms | None) -> None:
        """One run of the engine over the feed; if it fails, each job it held is redone
        alone (so that one bad job fails alone), from its own seed."""
        feed, ended = self._feed, set()
        feed.pulled = []
        try:
            for index, result in iter_problems(
                self.models.generator, self.models.encoder, feed, config, moves,
                slots=self.jobs_per_batch * config.k,
            ):
                ended.add(index)
                job, problem = feed.pulled[index]
                self._writer.put(job, functools.partial(self._stored, job, problem, result))
        except Exception:
            for index, (job, problem) in enumerate(feed.pulled):
                if index not in ended:
                    self._outbox.put(self._stamp(self._alone(job, problem, config, moves)))

    def _stored(self, job: JobSpec, problem: Problem, result: Any) -> Outcome:
        """The outcome of a job that ended, its shard written (in the writer thread)."""
        return self._stamp(self._outcome(job, problem, result))

    def _alone(
        self, job: JobSpec, problem: Problem, config: SamplerConfig, moves: RandomTransforms | None
    ) -> Outcome:
        try:
            [(_, result)] = iter_problems(
                self.models.generator, self.models.encoder, [problem], config, moves)
        except Exception as err:
            return _error(job, err)
        return self._outcome(job, problem, result)

    def prepare(self, job: JobSpec) -> Problem:
        """The sampling problem of ``job`` on this worker's models (its neurons built, its
        relative bands resolved); raises what is wrong with the job."""
        for ref in job.neurons:
            self.models.neuron(ref)
        self._observe([job])
        problem = self._problem(job)
        self._ranges_rows[job.job_id] = self._ranges_rows.get(job.job_id, 0) + self._unbilled
        self._unbilled = 0
        return problem

    def _buildable(self, job: JobSpec) -> bool:
        """Whether every neuron of ``job`` builds (one that does not fails when prepared)."""
        return all(self._builds(ref) for ref in job.neurons)

    def _builds(self, ref: NeuronRef) -> bool:
        """Whether the neuron ``ref`` builds on this worker's models."""
        try:
            self.models.neuron(ref)
        except Exception:
            return False
        return True

    def _prepare(
        self, jobs: list[JobSpec]
    ) -> tuple[dict[str, Outcome], list[tuple[JobSpec, Problem]]]:
        """The problems of the jobs that can run, and the error outcomes of the others."""
        outcomes: dict[str, Outcome] = {}
        ready: list[tuple[JobSpec, Problem]] = []
        for job in jobs:
            try:
                ready.append((job, self.prepare(job)))
            except Exception as err:  # reported per job: the sweep goes on
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
            ranges = self._ranges_rows.pop(job.job_id, 0)
            if ranges:
                outcome.stats["evals_ranges"] = ranges
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
        write_samples(self.root, job.job_id, job.partition, table)
        outcome.written = table.num_rows
