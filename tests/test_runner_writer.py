"""An actor's writer thread: every finished job stored once, off the sampling thread, and a
failure there reported as that job's error (never a hang)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

import pipeline.runner.actor as actor_module
from pipeline.runner import Worker
from pipeline.runner.writer import Writer
from pipeline.store.layout import shard_key
from pipeline.sweep import expand, to_plain
from pipeline.sweep.expand import model_settings

UNITS = "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]"
BAND = "bands.values=[[0.5, 0.75]]"


def collect_all(worker: Worker, count: int, seconds: float = 300) -> dict:
    """Outcomes by job id until ``count`` came back (fails past ``seconds``: a hang)."""
    outcomes: dict = {}
    deadline = time.monotonic() + seconds
    while len(outcomes) < count and time.monotonic() < deadline:
        for outcome in worker.collect(1.0):
            assert outcome.job_id not in outcomes, "an outcome came back twice"
            outcomes[outcome.job_id] = outcome
    assert len(outcomes) == count, f"only {len(outcomes)} of {count} outcomes came back"
    return outcomes


def test_writer_delivers_every_task_once_in_order_and_a_raising_one_as_its_error() -> None:
    delivered: list = []
    writer = Writer(delivered.append, lambda job, err: (job, f"failed: {err}"), depth=1)

    def broken() -> None:
        raise RuntimeError("disk on fire")

    for job in ("a", "b"):
        writer.put(job, lambda job=job: (job, "stored"))
    writer.put("c", broken)
    writer.put("d", lambda: ("d", "stored"))
    writer.join()
    assert delivered == [("a", "stored"), ("b", "stored"), ("c", "failed: disk on fire"),
                         ("d", "stored")]


def test_worker_stores_each_shard_once_in_its_writer_thread(toy_cfg, tmp_path, monkeypatch):
    cfg = toy_cfg(BAND, UNITS)
    jobs = expand(to_plain(cfg))
    root = tmp_path / "data"
    writes: list[tuple[str, str]] = []
    real = actor_module.write_samples

    def spying(root_, job_id, partition, table):
        writes.append((job_id, threading.current_thread().name))
        real(root_, job_id, partition, table)

    monkeypatch.setattr(actor_module, "write_samples", spying)
    worker = Worker(model_settings(to_plain(cfg)), root=str(root), jobs_per_batch=2)
    worker.submit(jobs)
    outcomes = collect_all(worker, len(jobs))
    assert sorted(writes) == sorted((job.job_id, "writer") for job in jobs)
    for job in jobs:
        outcome = outcomes[job.job_id]
        assert outcome.status == "done" and outcome.samples is None
        shard = pq.read_table(root / shard_key(job.job_id, *job.partition))
        assert shard.num_rows == outcome.written == job.n
    assert len(list(Path(root).rglob("*.parquet"))) == len(jobs)


def test_a_failing_shard_write_fails_that_job_and_the_others_are_stored(
    toy_cfg, tmp_path, monkeypatch
) -> None:
    cfg = toy_cfg(BAND, UNITS)
    jobs = expand(to_plain(cfg))
    real, broken = actor_module.write_samples, jobs[1].job_id

    def flaky(root_, job_id, partition, table):
        if job_id == broken:
            raise RuntimeError("encoder crashed")
        real(root_, job_id, partition, table)

    monkeypatch.setattr(actor_module, "write_samples", flaky)
    worker = Worker(model_settings(to_plain(cfg)), root=str(tmp_path / "data"), jobs_per_batch=2)
    worker.submit(jobs)
    outcomes = collect_all(worker, len(jobs))
    failed = outcomes.pop(broken)
    assert failed.status == "error" and failed.retryable and "encoder crashed" in failed.error
    assert failed.host is not None  # stamped with where it ran, like any outcome
    assert {o.status for o in outcomes.values()} == {"done"}
    assert all(o.written == o.n_samples > 0 for o in outcomes.values())
