"""Jobs are handed to the actors longest first (by a guess from their relative bands), dealt
in turns."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from pipeline.runner import ClusterSettings, Pool, SweepProgress
from pipeline.runner.order import deal, longest_first, rarity
from pipeline.runner.pool import _Actor, ahead
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


def test_deal_gives_one_item_to_each_hand_in_turn_skipping_full_hands() -> None:
    assert deal(range(10), [3, 3]) == [[0, 2, 4], [1, 3, 5]]  # 6..9 left over
    assert deal(range(6), [1, 3, 9]) == [[0], [1, 3, 5], [2, 4]]
    assert deal(range(3), [0, 0]) == [[], []] and deal([], [2]) == [[]]


def _fake_actor(submitted: list) -> _Actor:
    """An actor whose ``submit`` calls are recorded (no Ray)."""
    def remote(jobs, expected=()):  # noqa: ANN001, ANN202
        submitted.append(jobs)
    return _Actor(SimpleNamespace(submit=SimpleNamespace(remote=remote),
                                  collect=SimpleNamespace(remote=lambda wait: object())), None, {})


def test_the_long_jobs_spread_over_the_actors_even_one_still_starting(toy_cfg) -> None:
    """The first actor that joins takes every other job of the queue's front, not the longest
    ones all: the jobs of its turns stay at the front for the actor still starting."""
    jobs = longest_first(expand(toy_cfg("bands=relative_ladder")))  # 12 jobs, longest first
    pool = Pool({}, ClusterSettings.from_config(to_plain(toy_cfg("cluster.jobs_per_batch=2"))[
        "cluster"]), None, "s")
    pool.queue.extend((job, 0) for job in jobs)
    pool._grow = lambda: None
    first, second = [], []
    pool.actors[1] = _fake_actor(first)
    pool.starting["ref"] = (None, None, 0.0)  # the second actor is still starting
    pool._fill()
    room = 2 + ahead(2)
    assert first == [[jobs[i] for i in range(0, 2 * room, 2)]]
    assert [job for job, _ in pool.queue][:room] == [jobs[i] for i in range(1, 2 * room, 2)]
    del pool.starting["ref"]
    pool.actors[2] = _fake_actor(second)  # it joined
    pool._fill()
    assert second == [[jobs[i] for i in range(1, 2 * room, 2)]]
    assert rarity(jobs[0]) == rarity(jobs[1]) > rarity(jobs[-1])  # both got the longest kind
