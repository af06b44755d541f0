"""Band settings -> lists of :class:`BandSpec` (explicit lists, ladders, relative bands).

A band setting is either a list of ``[lo, hi]`` pairs (absolute activations) or a mapping:

- ``{kind: explicit, values: [[lo, hi], ...], scale: absolute|relative, range: {...}}``
- ``{kind: ladder, start: a, stop: b, count: m, scale: ..., range: {...}}``: ``m`` equal,
  touching bands from ``a`` to ``b`` (the paper's figure 1 uses six).

``scale: relative`` reads every bound as a fraction of the neuron's observed activation
range (0 = min, 1 = max over ``range.codes`` random codes through G drawn with
``range.seed``); fractions outside [0, 1] reach beyond what random codes give.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.errors import ConfigError
from pipeline.runner.job import BandSpec

_KEYS = {"kind", "values", "start", "stop", "count", "scale", "range"}


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2):
        raise ConfigError(f"{where}: a band is a pair [lo, hi], got {value!r}; give both bounds")
    try:
        lo, hi = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: band bounds must be numbers, got {value!r}; give both bounds"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(
            f"{where}: band bounds must be finite, got {value!r}; give two numbers lo < hi"
        )
    if not lo < hi:
        raise ConfigError(f"{where}: band [{lo}, {hi}] needs lo < hi; swap the bounds")
    return lo, hi


def _int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``, else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or (
        minimum is not None and value < minimum
    ):
        least = "an int" if minimum is None else f"an int >= {minimum}"
        raise ConfigError(f"{name} must be {least}, got {value!r}")
    return value


def ladder(start: float, stop: float, count: int) -> list[tuple[float, float]]:
    """``count`` equal, touching bands covering ``[start, stop]``, lowest first."""
    count = _int(count, "bands.count", 1)
    try:
        start, stop = float(start), float(stop)
    except (TypeError, ValueError):
        raise ConfigError(
            f"ladder start and stop must be numbers, got {start!r}, {stop!r}"
        ) from None
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ConfigError(f"a ladder needs finite start and stop, got {start}, {stop}")
    if not start < stop:
        raise ConfigError(f"ladder needs start < stop, got start={start}, stop={stop}")
    width = (stop - start) / count
    return [(start + i * width, start + (i + 1) * width) for i in range(count)]


def _as_mapping(setting: Any, where: str) -> Mapping[str, Any]:
    """``setting`` as a mapping with known keys (a bare list is an explicit band list)."""
    if isinstance(setting, Sequence) and not isinstance(setting, str):
        return {"kind": "explicit", "values": setting}
    if not isinstance(setting, Mapping):
        raise ConfigError(f"{where} must be a list of [lo, hi] pairs or a mapping with 'kind'")
    unknown = sorted(set(setting) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid: {sorted(_KEYS)}")
    return setting


def _explicit(setting: Mapping[str, Any], where: str) -> list[tuple[float, float]]:
    values = setting.get("values")
    if not values:
        raise ConfigError(f"{where}.values must list at least one [lo, hi] pair")
    return [_pair(v, f"{where}.values[{i}]") for i, v in enumerate(values)]


def _ladder(setting: Mapping[str, Any], where: str) -> list[tuple[float, float]]:
    missing = [k for k in ("start", "stop", "count") if setting.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: a ladder needs {missing}")
    return ladder(setting["start"], setting["stop"], setting["count"])


PAIRS = {"explicit": _explicit, "ladder": _ladder}


def parse_bands(setting: Any, where: str = "bands") -> tuple[BandSpec, ...]:
    """The bands described by ``setting`` (see the module docstring)."""
    setting = _as_mapping(setting, where)
    kind = setting.get("kind", "explicit")
    if kind not in PAIRS:
        raise ConfigError(f"{where}.kind must be one of {tuple(PAIRS)}, got {kind!r}")
    pairs = PAIRS[kind](setting, where)
    scale = setting.get("scale", "absolute")
    if scale == "absolute":
        return tuple(BandSpec(lo, hi) for lo, hi in pairs)
    if scale != "relative":
        raise ConfigError(f"{where}.scale must be 'absolute' or 'relative', got {scale!r}")
    estimate = setting.get("range") or {}
    codes = _int(estimate.get("codes", 256), f"{where}.range.codes", 2)
    seed = _int(estimate.get("seed", 0), f"{where}.range.seed")
    return tuple(BandSpec(lo, hi, "relative", codes, seed) for lo, hi in pairs)
