"""The tail of a sweep: once the driver's queue is empty, an actor with free slots takes the
jobs that still wait (not started) on a busy actor, so that actors end together."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from pathlib import Path

from ray import cloudpickle

from pipeline.runner import Worker
from pipeline.runner.stream import Feed
from pipeline.store import read_jobs
from tests.conftest import run_pool

UNITS = "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]"
ONE_BAND = "bands.values=[[0.5, 0.75]]"


class StallingWorker(Worker):
    """Holds its sampling thread on fc:0 until the other jobs' shards are written (at most
    120 s), so that a job queued behind fc:0 on the same actor can only end early on
    another actor; every outcome notes the process that sampled it."""

    def prepare(self, job):  # noqa: ANN001, ANN201
        if job.target == "fc:0":
            deadline = time.monotonic() + 120
            while (len(list(Path(self.root).rglob("samples/**/*.parquet"))) < 3
                   and time.monotonic() < deadline):
                time.sleep(0.2)
        return super().prepare(job)

    def _outcome(self, job, problem, result):  # noqa: ANN001, ANN202
        outcome = super()._outcome(job, problem, result)
        outcome.stats["pid"] = os.getpid()
        return outcome


def test_feed_gives_back_only_jobs_that_wait() -> None:
    feed = Feed(lambda job: f"problem {job}", lambda job, err: None)
    feed.put(["a", "b", "c"])
    assert next(feed) == "problem a"  # pulled: no longer waiting
    assert feed.take_back(5) == ["c", "b"] and len(feed) == 0
    assert feed.take_back(1) == [] and feed.pulled == [("a", "problem a")]
    feed.waiting = deque(["d"])
    assert feed.take_back(0) == [] and feed.peek() == ["d"]


def test_a_job_waiting_behind_a_stalled_one_moves_to_the_idle_actor(ray_session, toy_cfg):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = toy_cfg(ONE_BAND, UNITS, "cluster.jobs_per_batch=1")  # 1 running + 1 waiting each
    begin = time.monotonic()
    pool, counts, root = run_pool(cfg, StallingWorker)
    assert time.monotonic() - begin < 100  # fc:0 was released by the others' shards
    assert counts["done"] == 4
    records = read_jobs(root).to_pylist()
    assert sorted(r["target"] for r in records) == ["fc:0", "fc:1", "fc:2", "fc:3"]
    pid = {r["target"]: json.loads(r["stats"])["pid"] for r in records}
    # fc:1 was queued behind fc:0 on the first actor and ran on the other one
    assert pid["fc:1"] != pid["fc:0"] and len(set(pid.values())) == 2
