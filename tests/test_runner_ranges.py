"""The observed-ranges pass of relative bands: once per actor, counted in the job stats.

An actor evaluates ``range.codes`` random codes through G and the network before it can
resolve relative bands: one pass serves every neuron of its queued jobs and every relative
neuron of the sweep (sent with its first jobs), so later jobs need none. Those are
evaluations the sweep needs, so they are counted (``evals_ranges``) on the job whose
preparation ran the pass, and a sweep's total is the passes' rows.
"""

from __future__ import annotations

import json
import os
import sys

from ray import cloudpickle

from pipeline.runner import Worker
from pipeline.runner.actor import relative_neurons
from pipeline.store import read_jobs
from pipeline.sweep import expand, to_plain
from pipeline.sweep.expand import model_settings
from tests.conftest import run_pool
from tests.test_runner_writer import collect_all


def test_one_pass_for_the_queued_jobs_is_counted_once(toy_cfg, tmp_path) -> None:
    cfg = toy_cfg("bands=relative", "bands.range.codes=100")  # 2 units x 2 bands
    jobs = expand(to_plain(cfg))
    worker = Worker(model_settings(to_plain(cfg)), root=str(tmp_path / "data"), jobs_per_batch=2)
    worker.submit(jobs)
    outcomes = collect_all(worker, len(jobs))
    counted = [o.stats.get("evals_ranges", 0) for o in outcomes.values()]
    assert {o.status for o in outcomes.values()} == {"done"}
    assert sorted(counted) == [0, 0, 0, 100]  # both neurons in one pass, billed once
    first = next(o for o in outcomes.values() if o.stats.get("evals_ranges"))
    assert first.job_id == jobs[0].job_id  # the job whose preparation ran it


def test_each_worker_counts_its_own_pass_and_absolute_bands_none(toy_cfg) -> None:
    relative = expand(to_plain(toy_cfg("bands=relative", "bands.range.codes=64")))
    plain = to_plain(toy_cfg("bands=relative", "bands.range.codes=64"))
    [alone] = Worker(model_settings(plain)).run([relative[0]])
    assert alone.stats["evals_ranges"] == 64
    absolute = to_plain(toy_cfg("bands=explicit", "bands.values=[[0.5, 0.75]]"))
    outcomes = Worker(model_settings(absolute)).run(expand(absolute))
    assert outcomes and all("evals_ranges" not in o.stats for o in outcomes)


def test_expected_neurons_are_observed_with_the_first_jobs(toy_cfg, tmp_path) -> None:
    cfg = toy_cfg("bands=relative", "bands.range.codes=100")
    jobs = expand(to_plain(cfg))
    first, later = [jobs[0]], [job for job in jobs if job.target != jobs[0].target]
    passes = {}
    for expected in ((), relative_neurons(jobs)):
        worker = Worker(model_settings(to_plain(cfg)), root=str(tmp_path / str(len(expected))))
        worker.submit(first, expected)
        outcomes = collect_all(worker, 1)
        worker.submit(later)  # a neuron the first job did not have
        outcomes |= collect_all(worker, len(later))
        passes[len(expected)] = sum(o.stats.get("evals_ranges", 0) for o in outcomes.values())
    assert passes == {0: 200, 2: 100}  # both neurons in the first pass: no second one


class PidWorker(Worker):
    """Notes the process that sampled each job in its stats."""

    def _outcome(self, job, problem, result):  # noqa: ANN001, ANN202
        outcome = super()._outcome(job, problem, result)
        outcome.stats["pid"] = os.getpid()
        return outcome


def test_each_actor_of_a_sweep_observes_the_ranges_once(ray_session, toy_cfg) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = toy_cfg("bands=relative", "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]",
                  "cluster.jobs_per_batch=1")  # 8 jobs; each actor gets new neurons later
    _, counts, root = run_pool(cfg, PidWorker)
    assert counts["done"] == 8
    stats = [json.loads(r["stats"]) for r in read_jobs(root).to_pylist()]
    actors = {s["pid"] for s in stats}
    assert sum(s.get("evals_ranges", 0) for s in stats) == 256 * len(actors)
