"""Errors that say whose fault a failure is, in one line naming the problem and the fix.

- :class:`ConfigError`: a setting, argument or input file is wrong. The command-line tools
  print ``ConfigError: <problem>; <fix>`` and exit with code 2.
- :class:`EnvironmentFault`: the configuration is fine but the machine is not (a full disk,
  no network, a dead Ray head). The tools print ``EnvironmentFault: <what happened>; <what to
  check>`` and exit with code 1: rerunning the same command once it is fixed resumes.
"""

CONFIG_EXIT = 2
ENVIRONMENT_EXIT = 1


class ConfigError(ValueError):
    """A setting, argument or file is wrong; the message says what and how to fix it."""


class EnvironmentFault(RuntimeError):
    """The environment failed (disk, network, cluster); the message says what to check."""
