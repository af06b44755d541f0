"""Build progress on stderr: done/total, rate and ETA, at most every few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class BuildProgress:
    """Counts entries built or skipped and reports ``done/total`` with an ETA."""

    def __init__(self, total: int, stream: TextIO | None = None, every: float = 2.0) -> None:
        self.total, self.done, self.built = total, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.start = self._last = time.monotonic()

    def step(self, built: bool) -> None:
        """One entry finished (``built``: rendered now, else up to date and skipped)."""
        self.done += 1
        self.built += built
        now = time.monotonic()
        if now - self._last >= self.every or self.done == self.total:
            self._last = now
            self.report(now)

    def report(self, now: float | None = None) -> None:
        """Print one progress line."""
        elapsed = (now or time.monotonic()) - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        print(
            f"atlas: {self.done}/{self.total} entries ({self.built} built, "
            f"{self.done - self.built} up to date), {elapsed:.0f} s, ETA {eta:.0f} s",
            file=self.stream, flush=True,
        )
