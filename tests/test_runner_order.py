"""Jobs are handed to the actors longest first (by a guess from their relative bands)."""

from __future__ import annotations

import io

import pytest

from pipeline.runner import ClusterSettings, Pool, SweepProgress
from pipeline.runner.order import longest_first, rarity
from pipeline.sweep import expand, to_plain


def test_bands_far_from_the_middle_of_the_range_come_first(toy_cfg) -> None:
    jobs = expand(toy_cfg("bands=relative_ladder"))  # 2 units x 6 bands from 0 to 1.5
    ordered = longest_first(jobs)
    assert sorted(j.job_id for j in ordered) == sorted(j.job_id for j in jobs)
    assert [(j.target, j.bands[0].lo) for j in ordered[:2]] == [("fc:0", 1.25), ("fc:1", 1.25)]
    assert [j.bands[0].lo for j in ordered[-4:]] == [0.25, 0.5, 0.25, 0.5]  # ties keep order
    assert [rarity(j) for j in ordered] == sorted((rarity(j) for j in jobs), reverse=True)


def test_absolute_bands_keep_the_configs_order_and_intersections_add_up(toy_cfg) -> None:
    jobs = expand(toy_cfg("bands=explicit"))
    assert all(rarity(j) == 0 for j in jobs) and longest_first(jobs) == jobs
    both = expand(toy_cfg("neurons.select=[]", "bands.values=[[0.75, 1.0]]",
                          "neurons.intersections=[{name: both, members: [{unit: 0}, {unit: 1}]}]"))
    assert rarity(both[0]) == pytest.approx(2 * 0.375)


def test_the_pool_queues_the_longest_first(toy_cfg) -> None:
    jobs = expand(toy_cfg("bands=relative_ladder"))
    pool = Pool({}, ClusterSettings.from_config(to_plain(toy_cfg())["cluster"]), None, "s")
    pool.launch = lambda jobs=None: None  # no Ray: stop once the queue is filled

    def stop_here() -> None:
        raise RuntimeError("queued")

    pool._start_first = stop_here
    with pytest.raises(RuntimeError, match="queued"):
        pool.run(jobs, SweepProgress(len(jobs), stream=io.StringIO()))
    assert [job for job, _ in pool.queue] == longest_first(jobs) != jobs
