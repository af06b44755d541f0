"""Drive a pool of Ray actors through a list of jobs: queue, collect, retry, commit, report.

Each actor holds the models once and runs a sampling loop with continuous batching
(:mod:`pipeline.runner.stream`): it keeps ``jobs_per_batch`` jobs' chains in flight, and
the pool keeps :func:`ahead` more jobs waiting on it, so when a job ends a queued one
takes its slots at the next iteration, without waiting for the driver; the rest wait in
the driver's queue for whichever actor frees slots first; once that queue is empty, an
actor with free slots takes jobs that still wait (not started) on another (so actors end
together). The
actor writes each job's samples shard itself; the driver commits the job's record once
the shard is there. A job that failed is queued again, up to ``retries`` times, then
recorded as failed. Jobs are handed out longest first, by a guess
(:mod:`pipeline.runner.order`), so that short jobs, not long ones, end the sweep.

The pool neither hangs nor wastes: each actor runs in a placement group of its own
(:mod:`pipeline.runner.placement`); an actor whose group Ray cannot place on a node within
``start_timeout`` seconds (no free resources) is given up, and the sweep goes on with the
actors it has (one warning); an actor lost with its node is replaced when resources allow;
while jobs wait, the pool grows back, up to its size, onto resources that became free or
nodes that joined. With no actor at all for ``start_timeout`` seconds it stops with an
:class:`EnvironmentFault` (a rerun resumes).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayError

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.runner.actor import Outcome, RangeKey, Worker, relative_neurons
from pipeline.runner.cluster import ClusterSettings, actor_shape, capacity, jobs_per_batch
from pipeline.runner.job import JobSpec
from pipeline.runner.order import longest_first
from pipeline.runner.placement import PlacementGroup, placed, release, released, reserve, strategy
from pipeline.runner.progress import SweepProgress
from pipeline.store import ObjectSweepStore, SweepStore, job_table, worker_env
from pipeline.store.schema import STATUSES

AHEAD = 0.5  # jobs waiting on an actor beyond those in flight, per job in flight
STOP_WAIT = 10.0  # seconds to wait for killed actors to free their resources
COLLECT_WAIT = 1.0  # seconds an actor's collect call waits for a finished job
START_TIMEOUT = 120.0  # seconds an actor may take to be placed and load the models
log = logging.getLogger(__name__)

Queued = tuple[JobSpec, int]  # a job and how many times it has failed so far


@dataclass
class _Actor:
    """One actor of the pool, where it runs, and the jobs queued on it (in order)."""

    handle: Any
    group: PlacementGroup  # the placement group it runs in (see pipeline.runner.placement)
    info: dict[str, Any]
    jobs: dict[str, Queued] = field(default_factory=dict)
    fed: bool = False  # whether it has had its first jobs (and the sweep's relative neurons)


def ahead(jobs_per_batch: int) -> int:
    """How many jobs wait on an actor beyond its ``jobs_per_batch`` in flight: enough to fill
    the slots of the jobs that end before the driver's next hand-out (at least one), few
    enough that the jobs left near the end go to the actor that frees slots first."""
    return max(1, math.ceil(AHEAD * jobs_per_batch))


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
        store: SweepStore | ObjectSweepStore,
        sweep: str,
        worker: type[Worker] = Worker,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        """``worker`` is the class each actor runs (a :class:`Worker` or a subclass)."""
        self.model, self.settings, self.store, self.sweep = model, settings, store, sweep
        self.worker, self.start_timeout = worker, start_timeout
        self.queue: deque[Queued] = deque()
        self.expected: tuple[RangeKey, ...] = ()  # the relative neurons of the jobs to run
        self.actors: dict[int, _Actor] = {}
        self.collecting: dict[Any, int] = {}  # collect() ref -> actor id
        # describe() ref -> (handle, placement group, since)
        self.starting: dict[Any, tuple[Any, PlacementGroup, float]] = {}
        self.shape: tuple[int, float, float] = (0, 0.0, 0.0)
        self.replaced = 0
        self._ids = 0
        self._next_growth = 0.0
        self._warned = False

    # -- actors -------------------------------------------------------------------------

    def _launch(self) -> Any:
        """Ask Ray for one more actor; it joins the pool when its ``describe`` answers."""
        _, cpus, gpus = self.shape
        group = reserve(cpus, gpus)
        options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus, "max_concurrency": 4,
                                   **strategy(group)}
        env = worker_env(self.store.root)  # the object store's endpoint and region
        if env:
            options["runtime_env"] = {"env_vars": env}
        remote = ray.remote(self.worker).options(**options)
        s = self.settings
        handle = remote.remote(
            self.model, s.device, max(1, math.floor(cpus)), s.cache_dir,
            str(self.store.root), self.store.format, s.jobs_per_batch,
        )
        ref = handle.describe.remote()
        self.starting[ref] = (handle, group, time.monotonic())
        return ref

    def _join(self, ref: Any) -> None:
        """The actor whose ``describe`` call is ``ref`` joins the pool; a :class:`RayError`
        if it failed to start (it is then ended and its resources released)."""
        handle, group, _ = self.starting.pop(ref)
        try:
            info = ray.get(ref)
        except RayError:
            ray.kill(handle)
            release(group)
            raise
        self._ids += 1
        self.actors[self._ids] = _Actor(handle, group, info)

    def launch(self, jobs: int | None = None) -> None:
        """Start the pool's actors now, without waiting for them: for up to ``jobs`` jobs
        (None: not known yet, e.g. while the driver still expands the sweep; :meth:`run`
        then ends the actors beyond its jobs' count). Their process start, imports and
        model loading overlap whatever the driver does next."""
        self.shape = actor_shape(self.settings, jobs)
        per = jobs_per_batch(self.settings, self.shape[2])  # auto: by the actors' device
        self.settings = dataclasses.replace(self.settings, jobs_per_batch=per)
        for _ in range(self.shape[0] - len(self.starting) - len(self.actors)):
            self._launch()

    def _trim(self, jobs: int) -> None:
        """End the starting actors beyond one per job (launched before the count was known)."""
        surplus = min(len(self.actors) + len(self.starting) - max(jobs, 1), len(self.starting))
        if surplus > 0:
            self._end(list(self.starting)[-surplus:])
        self.shape = (min(self.shape[0], max(jobs, 1)), *self.shape[1:])

    def _start_first(self) -> None:
        """Return once one actor has loaded the models (the others join as they start). An
        actor failing to load the models is a :class:`ConfigError` (the same on every try);
        none placed within ``start_timeout`` an :class:`EnvironmentFault`."""
        while not self.actors:
            ready, _ = ray.wait(list(self.starting), num_returns=1,
                                timeout=self.settings.progress_seconds)
            if not ready:
                self._give_up_starts(time.monotonic())
                continue
            try:
                self._join(ready[0])
            except RayError as err:
                self.stop()
                raise ConfigError(f"a sweep actor failed to start: {_reason(err)}") from None

    def _started(self, ref: Any) -> None:
        """An actor's ``describe`` answered: it joins the pool (or is dropped if it failed)."""
        try:
            self._join(ref)
        except RayError as err:
            self._shrunk(f"an actor failed to start: {_reason(err)}")

    def _give_up_starts(self, now: float) -> None:
        """Kill the actors Ray has not placed on a node ``start_timeout`` seconds after their
        launch (an actor placed and still loading its models is waited for)."""
        self._give_up([ref for ref, (_, group, since) in self.starting.items()
                       if now - since >= self.start_timeout and not placed(group)])

    def _end(self, refs: list[Any]) -> None:
        """Kill these starting actors (by their ``describe`` refs) and free their resources."""
        for ref in refs:
            handle, group, _ = self.starting.pop(ref)
            ray.kill(handle)
            release(group)

    def _give_up(self, refs: list[Any]) -> None:
        """Kill these starting actors (not placed in time) and go on without them."""
        self._end(refs)
        if refs:
            self._shrunk(f"{len(refs)} actor(s) could not start within {self.start_timeout:g} s "
                         "(no free resources)")

    def _shrunk(self, why: str) -> None:
        """Go on with the actors there are (one warning), or stop if there are none."""
        self._next_growth = time.monotonic() + self.settings.progress_seconds
        if not self.actors and not self.starting:
            raise EnvironmentFault(
                f"no sweep actor is running: {why}; check that the Ray cluster has free CPUs/GPUs "
                "(ray status), then rerun (finished jobs are kept)"
            )
        if not self._warned:
            self._warned = True
            log.warning("%s; the sweep goes on with the actors it has and grows back when "
                        "resources return", why)

    def _grow(self) -> None:
        """While jobs wait, start another actor (one at a time) if the pool is below its size
        and the cluster has free room: resources other work freed, or nodes that joined.

        The size is ``cluster.actors``; with ``auto``, as many actors as there are jobs
        waiting and room for them."""
        now = time.monotonic()
        size = self.settings.actors or len(self.queue)
        if self.starting or len(self.actors) >= min(size, len(self.queue)):
            return
        if now < self._next_growth:
            return
        self._next_growth = now + self.settings.progress_seconds
        if not self.actors or capacity(*self.shape[1:]) > 0:
            self._launch()

    def _lost(self, actor_id: int, reason: str) -> list[Queued]:
        """An actor died: drop it (a replacement may start) and requeue its jobs. The first
        ``jobs_per_batch`` (those it was sampling) are returned: they count as a failed try."""
        actor = self.actors.pop(actor_id)
        ray.kill(actor.handle)
        release(actor.group)  # or Ray would reserve its bundle again, on another node
        self.replaced += 1
        if self.replaced > max(self.shape[0], 1) * (self.settings.retries + 1):
            raise EnvironmentFault(
                f"sweep actors keep dying ({self.replaced} so far; last: {reason}); check the "
                "nodes' memory and logs, then rerun (finished jobs are kept)"
            )
        self.collecting = {r: a for r, a in self.collecting.items() if a != actor_id}
        jobs = list(actor.jobs.values())
        running = self.settings.jobs_per_batch
        self.queue.extendleft(reversed(jobs[running:]))
        self._next_growth = 0.0
        return jobs[:running]

    def stop(self) -> None:
        """Kill every actor, remove their placement groups and wait (briefly) until Ray has,
        so that a sweep started next in the same Ray session finds their resources free.
        Safe to call again."""
        ends = [(a.handle, a.group) for a in self.actors.values()]
        ends += [(handle, group) for handle, group, _ in self.starting.values()]
        for handle, group in ends:
            ray.kill(handle)
            release(group)
        self.actors, self.starting = {}, {}
        deadline = time.monotonic() + STOP_WAIT
        while not all(released(g) for _, g in ends) and time.monotonic() < deadline:
            time.sleep(0.1)

    # -- jobs ---------------------------------------------------------------------------

    def _fill(self) -> None:
        """Queue jobs on every actor up to ``jobs_per_batch`` + :func:`ahead` (sharing the
        queue fairly near the end; once it is empty, moving jobs that wait on one actor to
        another's free slots), keep one collect call open on each busy actor, and try to
        grow while jobs wait."""
        room = self.settings.jobs_per_batch + ahead(self.settings.jobs_per_batch)
        share = math.ceil(len(self.queue) / max(len(self.actors), 1))
        for actor in self.actors.values():
            self._hand(actor, [self.queue.popleft()
                               for _ in range(min(room - len(actor.jobs), share)) if self.queue])
        if not self.queue:
            self._rebalance()
        for actor_id, actor in self.actors.items():
            if actor.jobs and actor_id not in self.collecting.values():
                self.collecting[actor.handle.collect.remote(COLLECT_WAIT)] = actor_id
        if self.queue:
            self._grow()

    def _hand(self, actor: _Actor, jobs: list[Queued]) -> None:
        """Queue ``jobs`` on ``actor``; with its first jobs, the relative neurons of every
        job of the sweep, whose ranges it then observes in one pass."""
        if jobs:
            actor.jobs.update((job.job_id, (job, failures)) for job, failures in jobs)
            expected = () if actor.fed else self.expected
            actor.fed = True
            actor.handle.submit.remote([job for job, _ in jobs], expected)

    def _rebalance(self) -> None:
        """The tail: with no job left in the driver's queue, an actor with free slots takes
        jobs that wait (not started) on the busiest actor, so that the actors end together
        instead of one running its queued jobs after its running ones while another idles."""
        per = self.settings.jobs_per_batch
        for taker in self.actors.values():
            donor = max(self.actors.values(), key=lambda actor: len(actor.jobs))
            count = min(per - len(taker.jobs), len(donor.jobs) - per)
            if count <= 0:
                continue
            try:
                ids = ray.get(donor.handle.withdraw.remote(count), timeout=COLLECT_WAIT * 10)
            except (RayError, TimeoutError):  # its collect call reports a lost actor
                return
            self._hand(taker, [donor.jobs.pop(job_id) for job_id in ids])

    def run(self, jobs: list[JobSpec], progress: SweepProgress) -> dict[str, int]:
        """Run ``jobs`` to completion; return how many ended with each status."""
        counts = dict.fromkeys(STATUSES, 0)
        if not jobs:
            self.stop()
            return counts
        self.queue.extend((job, 0) for job in longest_first(jobs))
        self.expected = relative_neurons(jobs)
        try:
            if self.actors or self.starting:  # launched early (see launch)
                self._trim(len(jobs))
            else:
                self.launch(len(jobs))
            self._start_first()
            progress.start()
            self._fill()
            while self.queue or any(actor.jobs for actor in self.actors.values()):
                self._step(counts, progress)
        finally:
            self.stop()
        progress.close()
        return counts

    def _step(self, counts: dict[str, int], progress: SweepProgress) -> None:
        """Wait for finished jobs (or a starting actor), settle them, hand out more work."""
        refs = [*self.collecting, *self.starting]
        if refs:
            ready, _ = ray.wait(refs, num_returns=1, timeout=self.settings.progress_seconds)
        else:  # nothing to wait for until the pool may grow again
            ready = []
            time.sleep(self.settings.progress_seconds)
        self._give_up_starts(time.monotonic())
        if not ready:
            progress.update()
        elif ready[0] in self.starting:
            self._started(ready[0])
        else:
            for (job, failures), outcome in self._collect(ready[0]):
                status = self._settle(job, failures, outcome)
                if status:
                    counts[status] += 1
                    progress.update(1, outcome.n_samples, failed=int(status == "failed"))
        self._fill()

    def _collect(self, ref: Any) -> list[tuple[Queued, Outcome]]:
        """The finished jobs of one actor with their outcomes; if the actor died, its
        running jobs get an error (they are retried) and the others are queued again."""
        actor_id = self.collecting.pop(ref)
        actor = self.actors[actor_id]
        try:
            outcomes = ray.get(ref)
        except RayError as err:
            reason = f"actor died: {_reason(err)}"
            where = actor.info
            return [
                (queued, Outcome(queued[0].job_id, "error", error=reason,
                                 device=where.get("device"), host=where.get("host")))
                for queued in self._lost(actor_id, reason)
            ]
        return [(actor.jobs.pop(outcome.job_id), outcome) for outcome in outcomes]

    def _settle(self, job: JobSpec, failures: int, outcome: Outcome) -> str | None:
        """Commit a finished outcome, or requeue a retryable error; the final status or None."""
        if outcome.fault:
            raise EnvironmentFault(
                f"a worker could not write job {job.job_id} to output.dir {self.store.root} "
                f"({outcome.error}); free disk space or check the output's filesystem, then "
                "rerun (finished jobs are kept)"
            )
        attempts = failures + 1
        if outcome.status == "error" and outcome.retryable and failures < self.settings.retries:
            self.queue.append((job, attempts))
            return None
        record = outcome.record(job, self.sweep, attempts)
        if outcome.samples is not None or not outcome.written:
            self.store.write(job.job_id, job.partition, outcome.samples, job_table(record))
        else:
            self.store.commit(job.job_id, job.partition, outcome.written, job_table(record))
        return record.status
