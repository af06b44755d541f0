"""Faults during a sweep: a killed actor, damaged shards, a full disk, an unreachable band,
NaN activations. After each, the dataset holds exactly the jobs' samples, once each, and
every stored image re-verifies inside its band.

The driver killed with SIGKILL and rerun: tests/test_sweep.py::
test_killed_sweep_resumes_without_loss_or_duplicates.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from ray import cloudpickle

from pipeline.atlas import AtlasSettings, build
from pipeline.errors import EnvironmentFault
from pipeline.runner import NeuronRef, Worker
from pipeline.runner.models import Models
from pipeline.store import SweepStore, decode_png, read_jobs, read_samples, shards
from pipeline.sweep import expand, run, to_plain
from pipeline.sweep.expand import model_settings
from tests.conftest import run_pool, write_in_process

ONE_BAND = "bands.values=[[0.5, 0.75]]"
THREE_UNITS = "neurons.select=[{layer: null, units: [0, 1, 2]}]"


def assert_exact(cfg, models: Models | None = None) -> list[dict]:
    """The dataset of ``cfg`` holds one record per job and, for each, exactly its
    ``n_samples`` samples (indices 0..n-1, no duplicates, no stray shard); every image,
    decoded and run through the network, lies in its band. Returns the records."""
    out = Path(cfg.output.dir)
    plain = to_plain(cfg)
    expected = {job.job_id: job for job in expand(plain)}
    records = read_jobs(out).to_pylist()
    assert sorted(r["job_id"] for r in records) == sorted(expected)
    samples = read_samples(out).to_pylist()
    keys = [(s["job_id"], s["sample"]) for s in samples]
    assert len(keys) == len(set(keys))
    for r in records:
        assert sorted(i for j, i in keys if j == r["job_id"]) == list(range(r["n_samples"]))
        assert (r["status"] in ("done", "partial")) == (r["n_samples"] > 0)
    shard_ids = sorted(p.stem for p in (out / "samples").rglob("*.parquet"))
    assert shard_ids == sorted(r["job_id"] for r in records if r["n_samples"])
    assert not list(out.rglob("*.tmp"))
    models = models or Models(model_settings(plain))
    for s in samples:
        ref = NeuronRef(**s["neurons"][0])
        assert expected[s["job_id"]].partition == (s["layer"], s["unit"])
        act = models.neuron(ref)(decode_png(s["image"])[None]).item()
        assert s["bands"][0]["lo"] <= act <= s["bands"][0]["hi"]
        assert act == pytest.approx(s["activations"][0], abs=1e-4)
    return records


class DiesOnce(Worker):
    """A worker whose process kills itself (SIGKILL) at the first job any actor starts."""

    marker = ""

    def prepare(self, job):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return super().prepare(job)
        os.kill(os.getpid(), signal.SIGKILL)
        return None


def test_actor_killed_midway_is_replaced_and_its_jobs_rerun(ray_session, toy_cfg, tmp_path):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    DiesOnce.marker = str(tmp_path / "died")
    cfg = toy_cfg(ONE_BAND, "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]",
                  "cluster.jobs_per_batch=1")
    pool, counts, _ = run_pool(cfg, DiesOnce)
    assert Path(DiesOnce.marker).exists() and pool.replaced == 1
    assert counts == {"done": 4, "partial": 0, "infeasible": 0, "failed": 0}
    records = assert_exact(cfg)
    assert sorted(r["attempts"] for r in records) == [1, 1, 1, 2]  # the lost job, retried


def damage(path: Path, how: str) -> None:
    """Truncate a file, overwrite it with junk, or flip bytes inside it (footer intact)."""
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "junk":
        path.write_bytes(b"not parquet at all")
    else:
        middle = len(data) // 3
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
        path.write_bytes(data)


def test_damaged_shards_are_skipped_by_readers_then_quarantined_and_redone(
    ray_session, toy_cfg, tmp_path, caplog
):
    cfg = toy_cfg(ONE_BAND, THREE_UNITS)
    out = write_in_process(cfg)
    jobs = {job.target: job.job_id for job in expand(cfg)}
    shard = {p.stem: p for p in (out / "samples").rglob("*.parquet")}
    damage(shard[jobs["fc:0"]], "truncate")  # footer gone
    damage(out / "jobs" / f"{jobs['fc:1']}.parquet", "junk")  # record unreadable
    damage(shard[jobs["fc:2"]], "flip")  # a data page damaged, footer intact

    caplog.set_level(logging.WARNING, "pipeline.store")
    assert sorted(read_jobs(out).column("job_id").to_pylist()) == sorted([jobs["fc:0"],
                                                                          jobs["fc:2"]])
    assert set(read_samples(out).column("job_id").to_pylist()) == {jobs["fc:1"]}  # intact
    build(out, tmp_path / "atlas", AtlasSettings(per_band=3), stream=io.StringIO())
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped and all("\n" not in line for line in skipped)
    assert any(jobs["fc:2"] in line for line in skipped)  # caught by the page checksums

    caplog.clear()
    with SweepStore(out, "s", {}) as store:
        assert store.quarantined == sorted([jobs["fc:0"], jobs["fc:1"]])
        assert store.finished() == {jobs["fc:2"]}
    [line] = [r.getMessage() for r in caplog.records if "quarantine" in r.getMessage()]
    assert "\n" not in line and "rerun" in line
    moved = sorted(p.name for p in (out / "quarantine").rglob("*.parquet"))
    assert moved == sorted([f"{jobs['fc:0']}.parquet", f"{jobs['fc:1']}.parquet"] * 2)

    (out / "jobs" / f"{jobs['fc:2']}.parquet").unlink()  # as the readers' warning says
    stream = io.StringIO()
    run(cfg, progress_stream=stream)
    assert "3 jobs (0 from earlier runs, 3 done" in stream.getvalue()
    assert_exact(cfg)


class FullDisk(Worker):
    """A worker whose disk fills up: the sweep's first samples shard is written whole, every
    later one fails half-way with ENOSPC (inside the real atomic writer)."""

    token = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        real = shards.pq.write_table

        def full_disk(table, where, **options) -> None:
            try:
                os.close(os.open(self.token, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                where.write(b"PAR1 half a shard")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
            real(table, where, **options)

        shards.pq.write_table = full_disk  # in this actor's process only


def test_disk_refusing_writes_stops_with_one_line_and_a_rerun_completes(
    ray_session, toy_cfg, tmp_path
):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    FullDisk.token = str(tmp_path / "written")
    # resource_timeout: the rerun may start before the failed run's actors give back their CPUs
    cfg = toy_cfg(ONE_BAND, "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]",
                  "cluster.jobs_per_batch=1", "cluster.resource_timeout=60")
    out = Path(cfg.output.dir)
    with pytest.raises(EnvironmentFault, match="No space left on device.*then rerun") as err:
        run_pool(cfg, FullDisk)
    assert "\n" not in str(err.value)
    records = {p.stem for p in (out / "jobs").glob("*.parquet")}
    assert len(records) <= 1 and len(list(out.rglob("*.parquet"))) <= 2  # one job at most
    assert not list(out.rglob("*.tmp"))  # no half-written shard left

    stream = io.StringIO()
    run(cfg, progress_stream=stream)
    assert f"4 jobs ({len(records)} from earlier runs, {4 - len(records)} done" in stream.getvalue()
    assert_exact(cfg)


def test_unreachable_band_is_recorded_infeasible_and_the_sweep_goes_on(ray_session, toy_cfg):
    cfg = toy_cfg("bands.values=[[-1, 1], [1000, 1001]]", "bands.scale=absolute",
                  "neurons.select=[{layer: null, units: [0]}]")
    run(cfg, progress_stream=io.StringIO())
    records = {r["bands"][0]["lo"]: r for r in assert_exact(cfg)}
    assert records[-1.0]["status"] in ("done", "partial") and records[-1.0]["n_samples"] > 0
    unreachable = records[1000.0]
    assert unreachable["status"] == "infeasible" and unreachable["n_samples"] == 0
    best = json.loads(unreachable["stats"])["best_activations"]
    assert len(best) == 1 and -1000 < best[0] < 1000  # the best activation reached, recorded


def test_nan_activations_reset_chains_without_losing_jobs(ray_session, toy_cfg):
    cfg = toy_cfg("+preset.options.nan_every=3")  # the toy network emits NaN now and then
    run(cfg, progress_stream=io.StringIO())
    clean = Models(model_settings(to_plain(toy_cfg())))  # the same weights, no NaN
    records = assert_exact(cfg, clean)
    assert len(records) == 4 and all(r["n_samples"] > 0 for r in records)
    assert all(  # a chain reset may leave a job short of n: partial, and counted so
        r["status"] == ("done" if r["n_samples"] == r["n_requested"] else "partial")
        for r in records
    )
    assert sum(json.loads(r["stats"])["reset"] for r in records) > 0


def test_readers_of_a_clean_dataset_warn_about_nothing(toy_dataset, tmp_path, caplog):
    copy = tmp_path / "copy"
    shutil.copytree(toy_dataset, copy)
    caplog.set_level(logging.WARNING, "pipeline.store")
    with SweepStore(copy, "s", {}) as store:
        assert store.quarantined == [] and store.orphans_removed == 0
    records = len(list((copy / "jobs").glob("*.parquet")))
    assert records and read_jobs(copy).num_rows == records and read_samples(copy).num_rows > 0
    assert not caplog.records
