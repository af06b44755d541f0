"""The observed-ranges pass of relative bands counts in the job stats (``evals_ranges``).

An actor evaluates ``range.codes`` random codes through G and the network once per set of
new neurons (one pass for every job queued on it) before it can resolve their relative
bands: evaluations the sweep needs, so they are counted, on the job whose preparation ran
the pass, and a sweep's total is the passes' rows.
"""

from __future__ import annotations

from pipeline.runner import Worker
from pipeline.sweep import expand, to_plain
from pipeline.sweep.expand import model_settings
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
