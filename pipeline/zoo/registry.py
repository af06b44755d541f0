"""The named presets and ``load``: one builder per name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from pipeline.errors import ConfigError
from pipeline.zoo.faces import build_faces
from pipeline.zoo.imagenet import build_imagenet
from pipeline.zoo.mnist import build_mnist
from pipeline.zoo.preset import Preset

BUILDERS: dict[str, Callable[..., Preset]] = {
    "faces": build_faces,
    "imagenet": build_imagenet,
    "mnist": build_mnist,
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
