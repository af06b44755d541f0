"""Compose the command line's configs before Hydra runs them, so that Hydra's own errors
(an unknown key or group option, bad override syntax) become one-line ConfigErrors."""

from __future__ import annotations

import itertools

from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    OmegaConfBaseException,
    ValidationError,
)

from pipeline.errors import ConfigError
from pipeline.sweep.config import compose

MAX_RUNS = 64  # a multirun's combinations checked (each compose takes some milliseconds)


def one_line(err: Exception) -> str:
    """Hydra's or OmegaConf's message for ``err`` as one line that says what to fix."""
    cause = err.__cause__
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and " not in " in str(cause):
        return (
            f"unknown config key {cause.full_key!r}; check its spelling (python -m pipeline.sweep "
            f"--cfg job prints every key, docs/cluster.md lists the groups)"
        )
    if isinstance(cause, ValidationError):  # a wrong type, refused by a schema
        reason = str(cause).splitlines()[0]
        return f"{cause.full_key}: {reason}; give a value of the setting's type"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err, MissingConfigException) and err.options:
        return f"{lines[0]}; choose one of: {', '.join(err.options)}"
    return "; ".join(lines)


def _runs(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override lists of each run (a multirun's sweeps expanded; at most MAX_RUNS)."""
    if not multirun:
        return [overrides]
    choices = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    return [list(run) for run in itertools.islice(itertools.product(*choices), MAX_RUNS)]


def preflight(argv: list[str]) -> None:
    """Raise :class:`ConfigError` if Hydra would fail to compose the config of ``argv``
    (the command line after the program name) for any of its runs."""
    args = get_args_parser().parse_args(argv)
    own = (args.help, args.hydra_help, args.shell_completion, args.experimental_rerun)
    if any(own) or args.config_path or args.config_dir:
        return  # Hydra's own modes, or another config folder: left to Hydra
    try:
        for overrides in _runs(list(args.overrides), args.multirun):
            compose(overrides, config_name=args.config_name or "config")
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(one_line(err)) from None
