"""The overnight config expands to every output neuron of ImageNet x six bands."""

from __future__ import annotations

from pipeline import sweep


def test_overnight_sweep_expands_to_6000_jobs() -> None:
    jobs = sweep.expand(sweep.compose(config_name="overnight"))
    assert len(jobs) == 6000
    assert {job.neurons[0].unit for job in jobs} == set(range(1000))
    assert len({(job.bands[0].lo, job.bands[0].hi) for job in jobs}) == 6
    assert len({job.job_id for job in jobs}) == 6000
    assert all(job.n == 500 for job in jobs)
