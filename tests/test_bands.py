"""Band settings -> BandSpecs: bare lists, explicit mappings, ladders, relative scales."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.runner.job import BandSpec
from pipeline.sweep.bands import ladder, parse_bands


def test_bare_list_and_explicit_mapping_give_the_same_bands() -> None:
    bands = parse_bands([[0, 1], [2, 3.5]])
    assert bands == (BandSpec(0.0, 1.0), BandSpec(2.0, 3.5))
    assert parse_bands({"kind": "explicit", "values": [[0, 1], [2, 3.5]]}) == bands


def test_ladder_covers_start_to_stop_with_touching_bands() -> None:
    bands = parse_bands({"kind": "ladder", "start": 0, "stop": 30, "count": 6})
    assert [(b.lo, b.hi) for b in bands] == [(5.0 * i, 5.0 * (i + 1)) for i in range(6)]
    assert ladder(-1, 1, 1) == [(-1.0, 1.0)]


def test_relative_bands_carry_their_range_estimate() -> None:
    [band] = parse_bands({"values": [[0.2, 0.4]], "scale": "relative",
                          "range": {"codes": 64, "seed": 3}})
    assert band == BandSpec(0.2, 0.4, "relative", 64, 3)
    [default] = parse_bands({"values": [[0.2, 0.4]], "scale": "relative"})
    assert (default.codes, default.range_seed) == (256, 0)


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("0-1", "must be a list of [lo, hi] pairs or a mapping"),
        ({"values": [[0, 1]], "width": 2}, "unknown keys ['width']"),
        ({"kind": "spiral"}, "bands.kind must be one of ('explicit', 'ladder')"),
        ({"kind": "explicit", "values": []}, "must list at least one [lo, hi] pair"),
        ({"kind": "ladder", "start": 0, "count": 3}, "a ladder needs ['stop']"),
        ({"kind": "ladder", "start": 0, "stop": 3, "count": True}, "bands.count must be an int"),
        ({"kind": "ladder", "start": 3, "stop": 0, "count": 3}, "start < stop"),
        ({"values": [[0, 1]], "scale": "log"}, "must be 'absolute' or 'relative'"),
        ({"values": [[0, 1]], "scale": "relative", "range": {"codes": 1}},
         "bands.range.codes must be an int >= 2"),
        ({"values": [[0, 1]], "scale": "relative", "range": {"seed": 0.5}},
         "bands.range.seed must be an int"),
        ([[1, "x"]], "band bounds must be numbers"),
    ],
)
def test_bad_band_settings_say_what_to_fix(setting, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_bands(setting)
    assert says in str(err.value) and "\n" not in str(err.value)
