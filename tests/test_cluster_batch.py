"""``cluster.jobs_per_batch: auto``: 4 jobs on a CPU actor, 256 per GPU; a number as given."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.runner.cluster import (
    CPU_JOBS_PER_BATCH,
    GPU_JOBS_PER_BATCH,
    ClusterSettings,
    jobs_per_batch,
)
from pipeline.sweep import compose, to_plain


@pytest.mark.parametrize("group", ["local", "ray"])
def test_auto_is_the_default_and_follows_the_actors_device(group: str) -> None:
    settings = ClusterSettings.from_config(to_plain(compose([f"cluster={group}"]))["cluster"])
    assert settings.jobs_per_batch is None
    assert jobs_per_batch(settings, 0.0) == CPU_JOBS_PER_BATCH == 4
    assert jobs_per_batch(settings, 1.0) == GPU_JOBS_PER_BATCH == 256
    assert jobs_per_batch(settings, 0.25) == 64  # four actors share a GPU
    assert jobs_per_batch(settings, 0.001) == 1


def test_a_number_is_kept_on_any_device() -> None:
    settings = ClusterSettings.from_config(
        to_plain(compose(["cluster.jobs_per_batch=3"]))["cluster"])
    assert jobs_per_batch(settings, 0.0) == jobs_per_batch(settings, 1.0) == 3


@pytest.mark.parametrize("value", [0, -2])
def test_bad_values_are_one_error(value: int) -> None:
    with pytest.raises(ConfigError, match="cluster.jobs_per_batch must be an int >= 1 or 'auto'"):
        ClusterSettings.from_config(
            to_plain(compose([f"cluster.jobs_per_batch={value}"]))["cluster"])
