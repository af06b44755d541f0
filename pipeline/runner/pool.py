"""Drive a pool of Ray actors through a list of jobs: pack, dispatch, retry, store, report.

Each actor holds the models once. Fresh jobs go out in packed batches (at most
``jobs_per_batch``, fewer near the end so that every actor has work); a job whose batch
failed is retried on its own, up to ``retries`` times, then recorded as failed. Results
are written through the store as they arrive: samples shard first, then the job record.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayActorError, RayError

from pipeline.errors import ConfigError
from pipeline.runner.actor import Outcome, Worker
from pipeline.runner.cluster import ClusterSettings, actor_shape
from pipeline.runner.job import Job
from pipeline.runner.progress import Progress
from pipeline.store import JobRecord, SweepStore, job_table


@dataclass
class _Slot:
    """One actor of the pool and what it is doing."""

    actor: Any
    info: dict[str, Any]


def _reason(err: BaseException) -> str:
    """The last meaningful line of a Ray error (the original exception, when it names one)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    named = [line for line in lines if "Error:" in line or "Exception:" in line]
    return (named or lines or [type(err).__name__])[-1][:2000]


class Pool:
    """Actors running :class:`Worker` for one model setting, and the queue of jobs."""

    def __init__(
        self,
        model: dict[str, Any],
        settings: ClusterSettings,
        store: SweepStore,
        sweep: str,
        worker: type[Worker] = Worker,
    ) -> None:
        """``worker`` is the class each actor runs (a :class:`Worker` or a subclass)."""
        self.model, self.settings, self.store, self.sweep = model, settings, store, sweep
        self.worker = worker
        self.queue: deque[tuple[Job, int]] = deque()
        self.slots: list[_Slot] = []
        self.shape: tuple[int, float, float] = (0, 0.0, 0.0)
        self.replaced = 0

    def _start_actors(self, count: int) -> list[_Slot]:
        """Start ``count`` actors at once and wait until each has loaded the models."""
        _, cpus, gpus = self.shape
        remote = ray.remote(self.worker).options(num_cpus=cpus, num_gpus=gpus)
        s = self.settings
        actors = [
            remote.remote(self.model, s.device, max(1, math.floor(cpus)), s.cache_dir)
            for _ in range(count)
        ]
        try:
            infos = ray.get([actor.describe.remote() for actor in actors])
        except RayError as err:
            for actor in actors:
                ray.kill(actor)
            raise ConfigError(f"a sweep actor failed to start: {_reason(err)}") from None
        return [_Slot(actor, info) for actor, info in zip(actors, infos, strict=True)]

    def _batch(self) -> list[tuple[Job, int]]:
        """The next batch: one retried job alone, or fresh jobs packed together."""
        if self.queue[0][1] > 0:
            return [self.queue.popleft()]
        fresh = sum(1 for _, failures in self.queue if failures == 0)
        size = min(self.settings.jobs_per_batch, max(1, math.ceil(fresh / len(self.slots))))
        batch = []
        while self.queue and len(batch) < size and self.queue[0][1] == 0:
            batch.append(self.queue.popleft())
        return batch

    def run(self, jobs: list[Job], progress: Progress) -> dict[str, int]:
        """Run ``jobs`` to completion; return how many ended in each status."""
        counts = {"done": 0, "partial": 0, "infeasible": 0, "failed": 0}
        if not jobs:
            return counts
        self.queue.extend((job, 0) for job in jobs)
        self.shape = actor_shape(self.settings, len(jobs))
        inflight: dict[Any, tuple[int, list[tuple[Job, int]]]] = {}
        try:
            self.slots = self._start_actors(self.shape[0])
            progress.start()
            for index in range(len(self.slots)):
                self._submit(index, inflight)
            while inflight:
                wait = self.settings.progress_seconds
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=wait)
                if not ready:
                    progress.update()
                    continue
                index, batch = inflight.pop(ready[0])
                for (job, failures), outcome in zip(
                    batch, self._collect(ready[0], index, batch), strict=True
                ):
                    status = self._settle(job, failures, outcome)
                    if status:
                        counts[status] += 1
                        samples = outcome.samples.num_rows if outcome.samples is not None else 0
                        progress.update(1, samples, failed=int(status == "failed"))
                self._submit(index, inflight)
        finally:
            for slot in self.slots:
                ray.kill(slot.actor)
        progress.close()
        return counts

    def _submit(self, index: int, inflight: dict) -> None:
        if self.queue:
            batch = self._batch()
            ref = self.slots[index].actor.run.remote([job for job, _ in batch])
            inflight[ref] = (index, batch)

    def _collect(self, ref: Any, index: int, batch: list[tuple[Job, int]]) -> list[Outcome]:
        """The outcomes of a batch; an actor that died is replaced and its jobs get an error."""
        where = self.slots[index].info
        try:
            return ray.get(ref)
        except RayActorError as err:
            reason = f"actor died: {_reason(err)}"
            self.replaced += 1
            if self.replaced > len(self.slots) * (self.settings.retries + 1):
                raise RuntimeError(
                    f"sweep actors keep dying ({self.replaced} so far); last: {reason}"
                ) from None
            ray.kill(self.slots[index].actor)
            self.slots[index] = self._start_actors(1)[0]
        except RayError as err:
            reason = _reason(err)
        return [
            Outcome(
                job.job_id,
                "error",
                error=reason,
                device=where.get("device"),
                host=where.get("host"),
            )
            for job, _ in batch
        ]

    def _settle(self, job: Job, failures: int, outcome: Outcome) -> str | None:
        """Store a finished outcome, or requeue a retryable error; the final status or None."""
        attempts = failures + 1
        if outcome.status == "error" and outcome.retryable and failures < self.settings.retries:
            self.queue.append((job, attempts))
            return None
        status = "failed" if outcome.status == "error" else outcome.status
        record = JobRecord(
            job_id=job.job_id,
            sweep=self.sweep,
            target=job.target,
            status=status,
            neurons=[ref.as_dict() for ref in job.neurons],
            n_requested=job.n,
            seed=job.sampling_seed,
            config=job.spec(),
            bands=outcome.bands,
            n_samples=outcome.samples.num_rows if outcome.samples is not None else 0,
            attempts=attempts,
            error=outcome.error,
            stats=outcome.stats,
            device=outcome.device,
            host=outcome.host,
        )
        self.store.write(job.job_id, job.partition, outcome.samples, job_table(record))
        return status
