"""Errors that say whose fault a failure is, in one line naming the problem and the fix.

- :class:`ConfigError`: a setting, argument or input file is wrong. The command-line tools
  print ``ConfigError: <problem>; <fix>`` and exit with code 2.
- :class:`EnvironmentFault`: the configuration is fine but the machine is not (a full disk,
  no network, a dead Ray head). The tools print ``EnvironmentFault: <what happened>; <what to
  check>`` and exit with code 1: rerunning the same command once it is fixed resumes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

CONFIG_EXIT = 2
ENVIRONMENT_EXIT = 1


class ConfigError(ValueError):
    """A setting, argument or file is wrong; the message says what and how to fix it."""


class EnvironmentFault(RuntimeError):  # noqa: N818 - a fault, not a bug: the name says so
    """The environment failed (disk, network, cluster); the message says what to check."""


@contextmanager
def exit_on_fault() -> Iterator[None]:
    """For command-line tools: a :class:`ConfigError` or :class:`EnvironmentFault` raised
    inside ends the program with one stderr line ``<Type>: <message>`` and its exit code."""
    try:
        yield
    except (ConfigError, EnvironmentFault) as err:
        code = CONFIG_EXIT if isinstance(err, ConfigError) else ENVIRONMENT_EXIT
        message = " ".join(line.strip() for line in str(err).splitlines())
        print(f"{type(err).__name__}: {message}", file=sys.stderr)
        sys.exit(code)
