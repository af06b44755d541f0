"""Ctrl-C and SIGTERM during a sweep: one line instead of a traceback, exit 130 / 143.

The store keeps every finished job (each is written atomically), so a rerun of the same
command resumes; the line says how far the sweep got.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Interrupted(BaseException):  # noqa: N818 - a BaseException like KeyboardInterrupt
    """The sweep was stopped by a signal (BaseException: no ``except Exception`` stops it)."""

    def __init__(self, signum: int, done: int | None = None, total: int | None = None) -> None:
        super().__init__(signum, done, total)
        self.signum, self.done, self.total = signum, done, total

    @property
    def code(self) -> int:
        """The exit code: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    def line(self) -> str:
        """What the user is told."""
        if self.total is None:
            return "interrupted before any job ran; rerun the same command to resume"
        return (f"interrupted: {self.done} of {self.total} jobs done; "
                "rerun the same command to resume")


def _raise(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def _signal_of(err: BaseException) -> int | None:
    """The signal behind ``err``: Ctrl-C, our SIGTERM, or either of them raised inside a
    C extension (Ray's ``wait``), which reports it as a SystemError caused by it."""
    if isinstance(err, SystemError):
        err = err.__cause__ or err.__context__ or err
    if isinstance(err, KeyboardInterrupt):
        return int(signal.SIGINT)
    return err.signum if isinstance(err, Interrupted) else None


@contextmanager
def counted(total: int, done: Callable[[], int]) -> Iterator[None]:
    """Raise :class:`Interrupted` with the count of finished jobs (``done()`` of ``total``)
    on Ctrl-C or SIGTERM inside the block. Enter it after connecting to Ray: ``ray.init``
    replaces the SIGTERM handler (its own exits the process, its core worker's aborts it)."""
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except (KeyboardInterrupt, Interrupted, SystemError) as err:
        signum = _signal_of(err)
        if signum is None:
            raise
        raise Interrupted(signum, done(), total) from None
    finally:
        if previous is not None:  # None: a handler not installed from Python
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def exit_on_interrupt(stream: TextIO | None = None) -> Iterator[None]:
    """Turn SIGTERM into :class:`Interrupted`; on Ctrl-C or SIGTERM print one line and exit
    with 128 + the signal's number."""
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except KeyboardInterrupt:
        print(Interrupted(signal.SIGINT).line(), file=stream or sys.stderr, flush=True)
        sys.exit(128 + signal.SIGINT)
    except Interrupted as err:
        print(err.line(), file=stream or sys.stderr, flush=True)
        sys.exit(err.code)
    finally:
        signal.signal(signal.SIGTERM, previous)
