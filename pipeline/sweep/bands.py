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

KINDS = ("explicit", "ladder")
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


def ladder(start: float, stop: float, count: int) -> list[tuple[float, float]]:
    """``count`` equal, touching bands covering ``[start, stop]``, lowest first."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"bands.count must be a positive int, got {count!r}")
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


def parse_bands(setting: Any, where: str = "bands") -> tuple[BandSpec, ...]:
    """The bands described by ``setting`` (see the module docstring)."""
    if isinstance(setting, Sequence) and not isinstance(setting, str):
        setting = {"kind": "explicit", "values": setting}
    if not isinstance(setting, Mapping):
        raise ConfigError(f"{where} must be a list of [lo, hi] pairs or a mapping with 'kind'")
    unknown = sorted(set(setting) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid: {sorted(_KEYS)}")
    kind = setting.get("kind", "explicit")
    if kind == "explicit":
        values = setting.get("values")
        if not values:
            raise ConfigError(f"{where}.values must list at least one [lo, hi] pair")
        pairs = [_pair(v, f"{where}.values[{i}]") for i, v in enumerate(values)]
    elif kind == "ladder":
        missing = [k for k in ("start", "stop", "count") if setting.get(k) is None]
        if missing:
            raise ConfigError(f"{where}: a ladder needs {missing}")
        pairs = ladder(setting["start"], setting["stop"], setting["count"])
    else:
        raise ConfigError(f"{where}.kind must be one of {KINDS}, got {kind!r}")
    scale = setting.get("scale", "absolute")
    if scale == "absolute":
        return tuple(BandSpec(lo, hi) for lo, hi in pairs)
    if scale != "relative":
        raise ConfigError(f"{where}.scale must be 'absolute' or 'relative', got {scale!r}")
    estimate = setting.get("range") or {}
    codes, seed = estimate.get("codes", 256), estimate.get("seed", 0)
    if isinstance(codes, bool) or not isinstance(codes, int) or codes < 2:
        raise ConfigError(f"{where}.range.codes must be an int >= 2, got {codes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where}.range.seed must be an int, got {seed!r}")
    return tuple(BandSpec(lo, hi, "relative", codes, seed) for lo, hi in pairs)
