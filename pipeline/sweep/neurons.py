"""Neuron settings -> targets: single neurons and intersections (groups with their own bands).

``neurons.select`` lists selectors, each giving single neurons of one layer::

    {layer: null, units: [0, "sunglasses"]}   # null: the preset's output layer; labels allowed
    {layer: features.18, range: [0, 64, 8]}   # start, stop (exclusive)[, step]
    {layer: features.14, units: all}          # every unit (channel) of the layer

plus ``spatial`` (``center``, ``mean`` or ``[y, x]``) for layers with a spatial grid.
Units of the output layer (``layer: null``) are checked here, which loads the models on
the CPU; every layer, unit and position is checked by ``expand.check_neurons`` before a
sweep runs.
``neurons.intersections`` lists groups sampled jointly::

    {name: cat_and_dog, members: [{layer: null, unit: 281}, {unit: 207, bands: [[5, 10]]}],
     bands: null}

A member's ``bands`` (or else the group's, or else the sweep's) give its bands; the group
makes one job per band position, members zipped (a single band is repeated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.errors import ConfigError
from pipeline.runner.job import BandSpec, NeuronRef
from pipeline.sweep.bands import parse_bands

INTERSECTION = "intersection"


class ModelInfo(Protocol):
    """What expansion needs to know about the models (loaded only when asked)."""

    @property
    def output_layer(self) -> str: ...

    def unit(self, label: str | int) -> int: ...

    def width(self, layer: str) -> int: ...


@dataclass(frozen=True)
class Target:
    """What one group of jobs samples: a neuron, or an intersection with per-member bands."""

    name: str
    neurons: tuple[NeuronRef, ...]
    partition: tuple[str, int]
    member_bands: tuple[tuple[BandSpec, ...] | None, ...]


def _spatial(value: Any, where: str) -> str:
    if value is None or value in ("center", "mean"):
        return value or "center"
    if isinstance(value, Sequence) and not isinstance(value, str) and value and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value
    ):
        return ",".join(str(i) for i in value)
    raise ConfigError(f"{where}.spatial must be 'center', 'mean' or [y, x] indices, got {value!r}")


def _unit(value: Any, layer: str | None, info: ModelInfo, where: str) -> int:
    """A unit index. ``layer`` None means the output layer: labels allowed, range checked
    now (that loads the models); on a named layer, by ``check_neurons`` later."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{where}: a unit is an int or a label, got {value!r}")
    if isinstance(value, str) and layer is not None and layer != info.output_layer:
        raise ConfigError(f"{where}: labels name units of the output layer (layer: null) only")
    if isinstance(value, str) or layer is None:
        return info.unit(value)
    if value < 0:
        raise ConfigError(f"{where}: unit must be >= 0, got {value}")
    return value


def _units(
    selector: Mapping[str, Any], layer: str | None, info: ModelInfo, where: str
) -> list[int]:
    has_units, has_range = selector.get("units") is not None, selector.get("range") is not None
    if has_units == has_range:
        raise ConfigError(f"{where}: give exactly one of 'units' (a list or 'all') and 'range'")
    if has_range:
        bounds = selector["range"]
        if isinstance(bounds, Mapping):
            bounds = [bounds.get("start", 0), bounds.get("stop"), bounds.get("step", 1)]
        if not (isinstance(bounds, Sequence) and 2 <= len(bounds) <= 3) or not all(
            isinstance(b, int) and not isinstance(b, bool) for b in bounds
        ):
            raise ConfigError(f"{where}.range must be [start, stop] or [start, stop, step] ints")
        if bounds[0] < 0 or bounds[1] <= bounds[0] or (len(bounds) == 3 and bounds[2] < 1):
            raise ConfigError(f"{where}.range {list(bounds)} is empty or negative")
        units = list(range(*bounds))
    elif selector["units"] == "all":
        units = list(range(info.width(_layer(layer, info))))
    elif isinstance(selector["units"], Sequence) and not isinstance(selector["units"], str):
        units = list(selector["units"])
    else:
        raise ConfigError(f"{where}.units must be a list or 'all', got {selector['units']!r}")
    if not units:
        raise ConfigError(f"{where} selects no units")
    return [_unit(u, layer, info, where) for u in units]


def _layer(value: Any, info: ModelInfo) -> str:
    return info.output_layer if value is None else str(value)


def single_targets(selectors: Any, info: ModelInfo) -> list[Target]:
    """One target per neuron named by ``neurons.select``."""
    out = []
    for i, selector in enumerate(selectors or []):
        where = f"neurons.select[{i}]"
        if not isinstance(selector, Mapping):
            raise ConfigError(f"{where} must be a mapping like {{layer: ..., units: [...]}}")
        unknown = sorted(set(selector) - {"layer", "units", "range", "spatial"})
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; valid: layer, units, range, "
                              "spatial")
        spatial = _spatial(selector.get("spatial"), where)
        units = _units(selector, selector.get("layer"), info, where)
        layer = _layer(selector.get("layer"), info)
        for unit in units:
            ref = NeuronRef(layer, unit, spatial)
            out.append(Target(ref.name, (ref,), (layer, unit), (None,)))
    return out


def intersection_targets(groups: Any, info: ModelInfo) -> list[Target]:
    """One target per entry of ``neurons.intersections``."""
    out = []
    for i, group in enumerate(groups or []):
        where = f"neurons.intersections[{i}]"
        if not isinstance(group, Mapping) or not group.get("members"):
            raise ConfigError(f"{where} needs 'members': a list of {{layer, unit[, bands]}}")
        unknown = sorted(set(group) - {"name", "members", "bands"})
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; valid: name, members, bands")
        shared = parse_bands(group["bands"], f"{where}.bands") if group.get("bands") else None
        refs, bands = [], []
        for j, member in enumerate(group["members"]):
            at = f"{where}.members[{j}]"
            if not isinstance(member, Mapping) or "unit" not in member:
                raise ConfigError(f"{at} must be a mapping with 'unit' (and 'layer', 'bands')")
            extra = sorted(set(member) - {"layer", "unit", "spatial", "bands"})
            if extra:
                raise ConfigError(f"{at}: unknown keys {extra}; valid: layer, unit, spatial, bands")
            unit = _unit(member["unit"], member.get("layer"), info, at)
            refs.append(NeuronRef(_layer(member.get("layer"), info), unit,
                                  _spatial(member.get("spatial"), at)))
            own = member.get("bands")
            bands.append(parse_bands(own, f"{at}.bands") if own else shared)
        if len(refs) < 2:
            raise ConfigError(f"{where} has one member; list single neurons under neurons.select")
        name = str(group.get("name") or "&".join(r.name for r in refs))
        out.append(Target(name, tuple(refs), (INTERSECTION, i), tuple(bands)))
    return out


def job_bands(target: Target, sweep_bands: tuple[BandSpec, ...]) -> list[tuple[BandSpec, ...]]:
    """The band tuples (one band per neuron) of a target's jobs: members zipped by position."""
    lists = [b if b is not None else sweep_bands for b in target.member_bands]
    count = max(len(b) for b in lists)
    if any(len(b) not in (1, count) for b in lists):
        sizes = [len(b) for b in lists]
        raise ConfigError(
            f"intersection {target.name!r}: members have {sizes} bands; give each member the "
            f"same number of bands, or one band to repeat"
        )
    return [tuple(b[k if len(b) > 1 else 0] for b in lists) for k in range(count)]
