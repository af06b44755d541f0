"""Continuous batching on an actor: jobs queued ahead of need, chain slots kept busy.

The driver queues jobs on the actor (``Worker.submit``) and picks up finished ones
(``Worker.collect``); one sampling thread per actor runs
``iter_problems(..., slots=...)`` over a :class:`Feed` of the queue, so that when a job
ends, a queued job's chains take its slots at the next iteration, and the device never
waits for the driver. Jobs are prepared (neurons built, relative bands resolved) in the
sampling thread, between iterations: their hooks never meet the loop's.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from pipeline.runner.job import JobSpec
from pipeline.sampler import Problem

# prepare(job) -> its Problem, or raises (the job then fails alone)
Prepare = Callable[[JobSpec], Problem]


class Feed:
    """The problems of queued jobs, in order, for the engine's ``problems`` iterator.

    ``next()`` prepares the next waiting job; a job that cannot be prepared is handed to
    ``reject`` with its error and the next one is tried. With none waiting it raises
    StopIteration; the engine asks again at its next iteration.
    """

    def __init__(self, prepare: Prepare, reject: Callable[[JobSpec, Exception], None]) -> None:
        self.prepare, self.reject = prepare, reject
        self.waiting: deque[JobSpec] = deque()
        self.pulled: list[tuple[JobSpec, Problem]] = []  # index = the engine's pull order
        self.lock = threading.Lock()

    def put(self, jobs: list[JobSpec]) -> None:
        """Queue jobs (from the driver's thread)."""
        with self.lock:
            self.waiting.extend(jobs)

    def __len__(self) -> int:
        with self.lock:
            return len(self.waiting)

    def take_back(self, count: int) -> list[JobSpec]:
        """Remove up to ``count`` waiting jobs, the last queued first, and return them (a job
        being prepared or sampled is no longer waiting and is never taken back)."""
        with self.lock:
            return [self.waiting.pop() for _ in range(min(count, len(self.waiting)))]

    def peek(self) -> list[JobSpec]:
        """The jobs waiting, in order (a copy)."""
        with self.lock:
            return list(self.waiting)

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> Problem:
        while True:
            with self.lock:
                if not self.waiting:
                    raise StopIteration
                job = self.waiting.popleft()
            try:
                problem = self.prepare(job)
            except Exception as err:  # reported for this job alone
                self.reject(job, err)
                continue
            self.pulled.append((job, problem))
            return problem


class Outbox:
    """Finished outcomes, handed from the sampling thread to ``collect`` calls."""

    def __init__(self) -> None:
        self.items: queue.Queue[Any] = queue.Queue()

    def put(self, outcome: Any) -> None:
        """Hand over one outcome."""
        self.items.put(outcome)

    def take(self, timeout: float) -> list[Any]:
        """Every outcome there is, waiting up to ``timeout`` seconds for the first."""
        try:
            out = [self.items.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.items.get_nowait())
            except queue.Empty:
                return out
