"""An actor's writer thread: finished jobs are stored off the sampling thread.

When a job ends, the sampling thread hands the writer a task that builds the job's samples
table (PNG or WebP encoding) and writes its shard (``write_samples``: encode, fsync,
rename), and goes on sampling; the writer runs the tasks in order and delivers each
job's outcome (to the actor's outbox, where the driver collects it and commits the job's
record). Every task delivers exactly one outcome: a task that raises delivers the job's
error outcome instead (the driver retries or records the job as failed), so a failure
there never leaves the driver waiting. At most ``depth`` tasks wait; the sampling thread
then waits for the writer (finished results are held in memory until written).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from pipeline.runner.job import JobSpec

Task = Callable[[], Any]  # builds and stores one job's shard; returns its outcome


class Writer:
    """Runs storing tasks in one background thread (started on first use), in order."""

    def __init__(
        self,
        deliver: Callable[[Any], None],
        failed: Callable[[JobSpec, BaseException], Any],
        depth: int = 4,
    ) -> None:
        """``deliver(outcome)`` hands an outcome on; ``failed(job, err)`` is the outcome of
        a task that raised ``err``; ``depth``: how many tasks may wait."""
        self.deliver, self.failed = deliver, failed
        self.tasks: queue.Queue[tuple[JobSpec, Task]] = queue.Queue(maxsize=max(1, depth))
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, job: JobSpec, task: Task) -> None:
        """Queue ``task`` (job's storing); waits while ``depth`` tasks are queued."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
                self._thread.start()
        self.tasks.put((job, task))

    def join(self) -> None:
        """Wait until every queued task has delivered its outcome."""
        self.tasks.join()

    def _run(self) -> None:
        while True:
            job, task = self.tasks.get()
            try:
                try:
                    outcome = task()
                except BaseException as err:  # noqa: BLE001 - the job fails, the writer goes on
                    outcome = self.failed(job, err)
                self.deliver(outcome)
            finally:
                self.tasks.task_done()
