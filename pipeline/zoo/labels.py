"""Names of output units: ImageNet classes, digits, and lookup from a name to a unit index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from pipeline.errors import ConfigError

IMAGENET = Path(__file__).parent / "weights" / "imagenet_classes.json"


@lru_cache(maxsize=1)
def _imagenet() -> tuple[str, ...]:
    return tuple(json.loads(IMAGENET.read_text(encoding="utf-8")))


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in torchvision's index order (torchvision's
    ``MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]``, shipped as a file so that
    a sweep actor need not import torchvision)."""
    return list(_imagenet())


def digit_labels() -> list[str]:
    """The ten MNIST classes, ``"0"`` .. ``"9"``."""
    return [str(d) for d in range(10)]


def find_unit(labels: Sequence[str], query: str | int) -> int:
    """The unit index of ``query`` in ``labels``.

    An int is range-checked and returned. A string matches exactly (ignoring case) first,
    then as a unique substring; no match or several raise ConfigError naming candidates.
    """
    if isinstance(query, int):
        if not 0 <= query < len(labels):
            raise ConfigError(f"unit {query} is out of range; this layer has {len(labels)} units")
        return query
    wanted = query.strip().lower()
    exact = [i for i, name in enumerate(labels) if name.lower() == wanted]
    if exact:
        return exact[0]
    partial = [i for i, name in enumerate(labels) if wanted in name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        options = ", ".join(f"{i}:{labels[i]!r}" for i in partial[:8])
        raise ConfigError(f"label {query!r} is ambiguous ({options}); use the full name or index")
    raise ConfigError(f"no unit is labelled {query!r}; see pipeline.zoo.labels for the names")
