"""Progress of a sweep on stderr: jobs done / total, samples per second and ETA."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO


class SweepProgress:
    """Counts finished jobs and samples and prints a progress line.

    ``earlier`` jobs were finished by earlier runs (resume): they count towards the total
    but not towards the rate. On a terminal the line is redrawn in place at most every
    ``every`` seconds; elsewhere (logs) a line is printed when a job ends, and every
    ``heartbeat`` seconds while none does.
    """

    def __init__(
        self,
        total: int,
        earlier: int = 0,
        every: float = 2.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: float = 60.0,
    ) -> None:
        self.total, self.earlier, self.every, self.heartbeat = total, earlier, every, heartbeat
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.last_print = -float("inf")
        self.jobs = self.samples = self.failed = 0

    def start(self) -> None:
        """Restart the clock (when the actors are ready), so that rates exclude start-up."""
        self.started = self.clock()

    @property
    def rate(self) -> float:
        """Samples per second since this run started."""
        elapsed = self.clock() - self.started
        return self.samples / elapsed if elapsed > 0 else 0.0

    def eta(self) -> timedelta | None:
        """Time left at this run's pace (None before the first job ends)."""
        if not self.jobs:
            return None
        left = self.total - self.earlier - self.jobs
        per_job = (self.clock() - self.started) / self.jobs
        return timedelta(seconds=round(left * per_job))

    def line(self) -> str:
        """The progress line."""
        done = self.earlier + self.jobs
        parts = [f"jobs {done}/{self.total}"]
        if self.earlier:
            parts[0] += f" ({self.earlier} from earlier runs)"
        if self.failed:
            parts.append(f"failed {self.failed}")
        eta = self.eta()
        parts += [f"{self.rate:.1f} samples/s", f"ETA {eta if eta is not None else '?'}"]
        return " | ".join(parts)

    def update(self, jobs: int = 0, samples: int = 0, failed: int = 0) -> None:
        """Count finished jobs (and their samples, failures); print if it is time."""
        self.jobs += jobs
        self.samples += samples
        self.failed += failed
        since = self.clock() - self.last_print
        if self.stream.isatty():
            due = since >= self.every
        else:
            due = bool(jobs) or since >= self.heartbeat
        if due:
            self.show()

    def show(self, final: bool = False) -> None:
        """Print the line now (``final``: end it with a newline on a terminal too)."""
        self.last_print = self.clock()
        if self.stream.isatty():
            end = "\n" if final else ""
            self.stream.write(f"\r{self.line()}\x1b[K{end}")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the progress display (on a terminal: the last line, kept)."""
        if self.stream.isatty():
            self.show(final=True)
