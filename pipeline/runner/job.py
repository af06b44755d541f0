"""One unit of work of a sweep: neurons, their bands, n, seed, sampler and model settings.

A job's id is a hash of everything that decides its result (``JobSpec.spec``), so the same job
in a rerun or another sweep gets the same id; names and partitions are left out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pipeline.errors import ConfigError

SCALES = ("absolute", "relative")


@dataclass(frozen=True)
class NeuronRef:
    """Unit ``unit`` of layer ``layer``; ``spatial`` is ``center``, ``mean`` or ``"y,x"``."""

    layer: str
    unit: int
    spatial: str = "center"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (the store's ``neurons`` struct)."""
        return {"layer": self.layer, "unit": self.unit, "spatial": self.spatial}

    def spatial_arg(self) -> str | tuple[int, ...]:
        """The ``spatial`` argument of ``pipeline.neuron``."""
        if self.spatial in ("center", "mean"):
            return self.spatial
        return tuple(int(i) for i in self.spatial.split(","))

    @property
    def name(self) -> str:
        """``layer:unit`` (plus ``@spatial`` when not the centre)."""
        where = "" if self.spatial == "center" else f"@{self.spatial}"
        return f"{self.layer}:{self.unit}{where}"


@dataclass(frozen=True)
class BandSpec:
    """A band ``[lo, hi]``: absolute activations, or fractions of the neuron's observed range.

    For ``scale="relative"``, the range is the min and max of the neuron over ``codes``
    random codes through G drawn with ``range_seed``; 0 is the min and 1 the max.
    """

    lo: float
    hi: float
    scale: str = "absolute"
    codes: int = 0
    range_seed: int = 0

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"band scale must be one of {SCALES}, got {self.scale!r}")
        if not self.lo < self.hi:
            raise ConfigError(f"band [{self.lo}, {self.hi}]: lo must be below hi; swap them")
        if self.scale == "relative" and self.codes < 2:
            raise ConfigError(f"relative band needs range codes >= 2, got {self.codes}")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict; the range settings only for relative bands."""
        out: dict[str, Any] = {"lo": self.lo, "hi": self.hi, "scale": self.scale}
        if self.scale == "relative":
            out.update(codes=self.codes, range_seed=self.range_seed)
        return out


@dataclass(frozen=True)
class JobSpec:
    """Sample ``n`` inputs inside ``bands[j]`` for every ``neurons[j]`` (an intersection if >1).

    ``target`` names it (``layer:unit`` or the intersection's name); ``partition`` is the
    (layer, unit) folder its samples go to. ``sampler`` holds every SamplerConfig field
    and ``model`` the model settings; both are part of the id.
    """

    neurons: tuple[NeuronRef, ...]
    bands: tuple[BandSpec, ...]
    n: int
    seed: int
    sampler: dict[str, Any] = field(hash=False)
    model: dict[str, Any] = field(hash=False)
    target: str = field(default="", compare=False)
    partition: tuple[str, int] = field(default=("", 0), compare=False)

    def __post_init__(self) -> None:
        if not self.neurons or len(self.neurons) != len(self.bands):
            raise ConfigError(
                f"a job needs one band per neuron, got {len(self.neurons)} neurons and "
                f"{len(self.bands)} bands"
            )

    def spec(self) -> dict[str, Any]:
        """Everything that decides the result, as plain JSON-able data."""
        return {
            "neurons": [x.as_dict() for x in self.neurons],
            "bands": [b.as_dict() for b in self.bands],
            "n": self.n,
            "seed": self.seed,
            "sampler": self.sampler,
            "model": self.model,
        }

    @cached_property
    def sampling_seed(self) -> int:
        """The sampler's seed: the sweep seed mixed with the neurons and bands, so that
        every job of a sweep starts from its own codes, reproducibly."""
        text = json.dumps([self.seed, self.spec()["neurons"], self.spec()["bands"]], sort_keys=True)
        return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)

    @cached_property
    def job_id(self) -> str:
        """20 hex digits of the sha256 of the canonical JSON of :meth:`spec`."""
        text = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]
