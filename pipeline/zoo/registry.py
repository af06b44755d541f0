"""The named presets and ``load``: one builder per name.

A preset's module is imported when the preset is first built, not before: ``faces`` and
``imagenet`` pull in torchvision (seconds of imports in every sweep actor), which ``mnist``
does not need.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import torch

from pipeline.errors import ConfigError
from pipeline.zoo.preset import Preset


def _lazy(module: str, function: str) -> Callable[..., Preset]:
    """A builder that imports ``module`` on its first call and calls its ``function``."""

    def build(**options) -> Preset:
        return getattr(importlib.import_module(module), function)(**options)

    build.__name__ = build.__qualname__ = function
    build.__doc__ = f"``{module}.{function}`` (the module is imported on the first call)."
    return build


BUILDERS: dict[str, Callable[..., Preset]] = {
    "faces": _lazy("pipeline.zoo.faces", "build_faces"),
    "imagenet": _lazy("pipeline.zoo.imagenet", "build_imagenet"),
    "mnist": _lazy("pipeline.zoo.mnist", "build_mnist"),
}


def names() -> list[str]:
    """The valid preset names."""
    return sorted(BUILDERS)


def load(
    name: str, device: str | torch.device = "cpu", cache_dir: str | Path | None = None, **options
) -> Preset:
    """Build preset ``name`` on ``device``; ``options`` go to its builder (e.g. ``size=224``).

    ``cache_dir`` overrides ``$INVERSE_SET_CACHE`` for fetched weight files.
    """
    if name not in BUILDERS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(names())}")
    try:
        return BUILDERS[name](device=device, cache_dir=cache_dir, **options)
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        raise ConfigError(
            f"preset {name!r} got an unknown option ({err}); see docs/zoo.md "
            "for each preset's options"
        ) from err
