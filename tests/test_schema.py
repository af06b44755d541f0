"""Typed schemas of the sampler and cluster groups: built from the code's dataclasses,
enforced by Hydra when it composes, and by ``checked`` on plain dicts, in one line."""

from __future__ import annotations

import dataclasses

import pytest
from hydra.errors import HydraException

from pipeline.errors import ConfigError
from pipeline.runner import ClusterSettings
from pipeline.sampler import SamplerConfig
from pipeline.sweep import compose, expand, to_plain
from pipeline.sweep.preflight import preflight
from pipeline.sweep.schema import ClusterSchema, SamplerSchema, checked


def names(cls: type) -> set[str]:
    return {spec.name for spec in dataclasses.fields(cls)}


def test_schemas_hold_every_field_of_the_code_with_its_default() -> None:
    assert names(SamplerSchema) == names(SamplerConfig) | {"n", "seed", "transform"}
    assert names(ClusterSchema) == names(ClusterSettings)
    sampler = checked("sampler", {})
    assert {k: sampler[k] for k in names(SamplerConfig)} == SamplerConfig().to_dict()
    cluster = checked("cluster", {})
    assert cluster["actors"] == cluster["gpus_per_actor"] == "auto"
    assert ClusterSettings.from_config(cluster) == ClusterSettings()


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("sampler.k=abc", "sampler.k: Value 'abc' of type 'str' could not be converted to Integer"),
        ("sampler.adaptive=maybe", "sampler.adaptive: Value 'maybe' is not a valid bool"),
        ("cluster.actors=2.5", "cluster.actors: Value '2.5' of type 'float' is incompatible"),
        ("cluster.retries=[1]", "cluster.retries"),
        ("cluster.nodes=3", "unknown config key 'cluster.nodes'"),
        ("sampler.chains=3", "unknown config key 'sampler.chains'"),
    ],
)
def test_hydra_refuses_wrong_types_and_unknown_keys(override: str, says: str) -> None:
    with pytest.raises(HydraException):
        compose(["preset=toy", override])
    with pytest.raises(ConfigError) as err:  # the command line's check: one line
        preflight(["preset=toy", override])
    assert says in str(err.value) and "\n" not in str(err.value)


def test_plain_dicts_get_the_same_checks_and_conversions() -> None:
    assert checked("sampler", {"lr": 1})["lr"] == 1.0 and isinstance(checked("sampler", {})["lr"],
                                                                       float)
    with pytest.raises(ConfigError, match="unknown config key 'cluster.nodes'"):
        checked("cluster", {"nodes": 3})
    with pytest.raises(ConfigError, match="sampler.k: .*Integer; give a value"):
        checked("sampler", {"k": "abc"})
    plain = to_plain(compose(["preset=toy"]))
    plain["sampler"] = {**plain["sampler"], "lr": 1}
    assert to_plain(plain)["sampler"]["lr"] == 1.0  # lr=1 and lr=1.0: the same jobs


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"actors": 0}, "cluster.actors must be an int >= 1 or 'auto'"),
        ({"actors": "many"}, "cluster.actors must be an int >= 1 or 'auto'"),
        ({"retries": -1}, "cluster.retries must be an int >= 0"),
        ({"num_cpus": 0}, "cluster.num_cpus must be a positive number"),
        ({"connect_timeout": -1.0}, "cluster.connect_timeout must be a positive number"),
        ({"gpus_per_actor": -0.5}, "cluster.gpus_per_actor must be >= 0 or 'auto'"),
    ],
)
def test_cluster_values_out_of_range_are_config_errors(section: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        ClusterSettings.from_config(checked("cluster", section))


def test_cluster_auto_and_empty_values_become_none() -> None:
    settings = ClusterSettings.from_config(checked("cluster", {"address": "", "actors": 3,
                                                               "gpus_per_actor": 1}))
    assert settings.address is None and settings.actors == 3 and settings.gpus_per_actor == 1
    assert ClusterSettings.from_config(checked("cluster", {})).actors is None


@pytest.mark.parametrize("transform", ["3", "{jit: 2}"])
def test_a_transform_that_is_not_jitter_and_scales_is_refused_in_one_line(transform: str) -> None:
    cfg = compose(["preset=toy", "neurons.select=[{layer: null, units: [0]}]",
                   f"sampler.transform={transform}"])
    with pytest.raises(ConfigError, match=r"sampler.transform must be null or \{jitter"):
        expand(cfg)
    assert expand(compose(["preset=toy", "sampler.transform={jitter: 2}"]))
