"""Job expansion from the Hydra config, and sweeps on a local Ray: retries, kill and resume."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ray import cloudpickle

from pipeline.errors import ConfigError
from pipeline.runner import ClusterSettings, NeuronRef, Pool, SweepProgress, Worker, estimate
from pipeline.runner.toy import toy_network
from pipeline.store import StoreFormat, SweepStore, decode_png, read_jobs, read_samples
from pipeline.sweep import dry_run, expand, run, sweep_hash, to_plain
from pipeline.sweep.expand import model_settings
from tests.conftest import run_pool, write_in_process

ROOT = Path(__file__).resolve().parents[1]
ONE_BAND = "bands.values=[[0.5, 0.75]]"


def targets(jobs: list) -> list[str]:
    return [job.target for job in jobs]


def test_lists_labels_ranges_and_every_unit(toy_cfg) -> None:
    jobs = expand(toy_cfg(ONE_BAND, "neurons.select=[{layer: null, units: [0, unit2]}, {layer: "
                          "conv, range: [1, 4, 2]}, {layer: conv, units: all, spatial: mean}]"))
    every = [f"conv:{u}@mean" for u in range(4)]
    assert targets(jobs) == ["fc:0", "fc:2", "conv:1", "conv:3", *every]
    assert [job.partition for job in jobs[:3]] == [("fc", 0), ("fc", 2), ("conv", 1)]
    assert jobs[-1].neurons == (NeuronRef("conv", 3, "mean"),)


def test_intersections_zip_member_bands(toy_cfg) -> None:
    jobs = expand(toy_cfg(
        "neurons.select=[]", "bands=ladder", "bands.start=0", "bands.stop=3", "bands.count=3",
        "neurons.intersections=[{name: pair, members: [{unit: 0}, {unit: 1, bands: [[5, 6]]}]}, "
        "{members: [{layer: conv, unit: 2, spatial: [4, 4]}, {unit: 3}], bands: [[1, 2], [2, 3]]}]",
    ))
    assert targets(jobs) == ["pair"] * 3 + ["conv:2@4,4&fc:3"] * 2
    assert [[(b.lo, b.hi) for b in job.bands] for job in jobs[:3]] == [
        [(0.0, 1.0), (5.0, 6.0)], [(1.0, 2.0), (5.0, 6.0)], [(2.0, 3.0), (5.0, 6.0)]]
    assert [job.partition for job in jobs] == [("intersection", 0)] * 3 + [("intersection", 1)] * 2
    with pytest.raises(ConfigError, match="same number of bands"):
        expand(toy_cfg("neurons.intersections=[{members: [{unit: 0}, {unit: 1, "
                       "bands: [[1, 2], [2, 3], [3, 4]]}]}]"))


def test_ladder_and_relative_bands(toy_cfg) -> None:
    ladder = expand(toy_cfg("bands=ladder", "neurons.select=[{layer: null, units: [0]}]"))
    bands = [(j.bands[0].lo, j.bands[0].hi) for j in ladder]
    assert bands == [(10.0 * i, 10.0 * i + 10) for i in range(6)]
    relative = expand(toy_cfg("bands=relative_ladder", "bands.range.seed=3"))
    assert len(relative) == 12 and {j.bands[0].scale for j in relative} == {"relative"}
    assert {(j.bands[0].codes, j.bands[0].range_seed) for j in relative} == {(256, 3)}


def test_relative_bands_resolve_to_the_observed_range(toy_cfg) -> None:
    cfg = toy_cfg("neurons.select=[{layer: null, units: [2]}]", "bands.values=[[0.2, 0.6]]",
                  "bands.range.codes=64")
    job = expand(cfg)[0]
    outcome = Worker(model_settings(to_plain(cfg))).run([job])[0]
    network = toy_network(channels=1, size=8, units=4, seed=0)
    codes = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))  # init_std 1
    acts = network(torch.sigmoid(codes).reshape(64, 1, 8, 8))[:, 2]
    low, high = acts.min().item(), acts.max().item()
    lo, hi = outcome.bands[0]
    assert lo == pytest.approx(low + 0.2 * (high - low), rel=1e-5)
    assert hi == pytest.approx(low + 0.6 * (high - low), rel=1e-5)


def test_job_ids_are_stable_and_decided_by_the_spec(toy_cfg) -> None:
    ids = [job.job_id for job in expand(toy_cfg())]
    assert ids == [job.job_id for job in expand(toy_cfg("cluster.actors=1", "output.dir=/x"))]
    assert ids == [job.job_id for job in expand(toy_cfg("sampler.lr=0.05", "sampler.mu0=10"))]
    assert len(set(ids)) == 4
    assert not set(ids) & {job.job_id for job in expand(toy_cfg("sampler.seed=1"))}
    assert not set(ids) & {job.job_id for job in expand(toy_cfg("sampler.k=5"))}
    doubled = expand(toy_cfg("neurons.select=[{layer: null, units: [0, 0, unit0]}]"))
    assert len(doubled) == 2
    assert sweep_hash(to_plain(toy_cfg())) != sweep_hash(to_plain(toy_cfg("sampler.n=13")))


@pytest.mark.parametrize(
    "override",
    [
        "neurons.select=[{layer: null, units: [0], range: [0, 2]}]",
        "neurons.select=[{layer: null, range: [3, 1]}]",
        "neurons.select=[{layer: conv, units: [unit1]}]",
        "neurons.select=[{layer: null, unit: 1}]",
        "neurons.select=[{layer: null, units: [99]}]",
        "neurons.select=[{layer: null, units: [0], spatial: corner}]",
        "neurons.select=[]",
        "neurons.intersections=[{members: [{unit: 0}]}]",
        "bands.values=[[2, 1]]",
        "bands.kind=spiral",
        "bands.scale=log",
        "sampler.k=0",
        "sampler.n=0",
        "sampler.transform={jitter: -1, scales: [1.0]}",
    ],
)
def test_bad_configs_raise_one_line_config_errors(toy_cfg, override: str) -> None:
    with pytest.raises(ConfigError) as err:
        expand(toy_cfg(override))
    assert "\n" not in str(err.value)


def test_unknown_sampler_setting_is_a_config_error(toy_cfg) -> None:
    plain = to_plain(toy_cfg())
    plain["sampler"]["chains"] = 3
    with pytest.raises(ConfigError, match="unknown config key .sampler.chains."):
        expand(plain)


class FlakyWorker(Worker):
    """Fails fc:1 always, and fc:0 once per actor."""

    failed_once = False

    def prepare(self, job):
        if job.target == "fc:1":
            raise RuntimeError("always broken")
        if not self.failed_once and job.target == "fc:0":
            self.failed_once = True
            raise RuntimeError("broken once")
        return super().prepare(job)


def test_failed_jobs_are_retried_then_recorded(ray_session, toy_cfg) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = toy_cfg(ONE_BAND, "cluster.jobs_per_batch=1",
                  "neurons.select=[{layer: null, units: [0, 1, 2]}, {layer: conv, units: [9]}]")
    _, counts, root = run_pool(cfg, FlakyWorker)
    assert counts == {"done": 2, "partial": 0, "infeasible": 0, "failed": 2}
    records = {r["target"]: r for r in read_jobs(root).to_pylist()}
    assert records["fc:1"]["attempts"] == 3 and "always broken" in records["fc:1"]["error"]
    assert records["conv:9"]["attempts"] == 1 and "ConfigError" in records["conv:9"]["error"]
    assert records["fc:0"]["status"] == "done" and records["fc:0"]["attempts"] in (2, 3)
    assert records["fc:2"]["attempts"] == 1 and records["fc:2"]["n_samples"] == 12


def test_killed_sweep_resumes_without_loss_or_duplicates(
    ray_session, toy_cfg, toy_overrides, tmp_path
) -> None:
    extra = ["neurons.select=[{layer: null, units: [0, 1, 2, 3]}]", "sampler.n=16",
             "bands.values=[[0.25, 0.5], [0.5, 0.75], [0.75, 1.0]]", "cluster.jobs_per_batch=1"]
    cfg = toy_cfg(*extra)
    out = Path(cfg.output.dir)
    log = tmp_path / "driver.log"
    command = [sys.executable, "-m", "pipeline.sweep", *toy_overrides, *extra, f"output.dir={out}",
               f"cluster.address={ray_session}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    with open(log, "w") as stderr:
        driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 90
        while driver.poll() is None and time.monotonic() < deadline:
            if out.is_dir() and any((out / "jobs").glob("*.parquet")):
                break
            time.sleep(0.02)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.parquet")}
    assert 1 <= len(before) < 12, log.read_text()[-2000:]

    stream = io.StringIO()
    cfg = toy_cfg(*extra, "cluster.resource_timeout=60")  # the killed driver's actors go
    assert run(cfg, progress_stream=stream) == out.resolve()
    assert "jobs 12/12" in stream.getvalue() and "from earlier runs" in stream.getvalue()
    after = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.parquet")}
    assert {k: after[k] for k in before} == before  # finished jobs were not redone

    expected = {job.job_id: job for job in expand(cfg)}
    records = read_jobs(out).to_pylist()
    assert sorted(r["job_id"] for r in records) == sorted(expected)
    assert all(r["status"] == "done" and r["n_samples"] == 16 for r in records)
    samples = read_samples(out).to_pylist()
    keys = [(s["job_id"], s["sample"]) for s in samples]
    assert len(keys) == len(set(keys)) == 12 * 16
    assert len(list((out / "samples").rglob("*.parquet"))) == 12

    model = Worker(model_settings(to_plain(cfg))).models
    for s in samples:
        ref = NeuronRef(**s["neurons"][0])
        assert expected[s["job_id"]].partition == (s["layer"], s["unit"]) == (ref.layer, ref.unit)
        x = decode_png(s["image"])[None]
        act = model.neuron(ref)(x).item()
        band = s["bands"][0]
        assert band["lo"] <= act <= band["hi"]
        assert act == pytest.approx(s["activations"][0], abs=1e-4)


def test_actor_that_cannot_load_the_models_stops_the_sweep(ray_session, toy_cfg) -> None:
    cfg = toy_cfg("preset.factory=pipeline.runner.toy:no_such_preset", "cluster.actors=1",
                  "neurons.select=[{layer: fc, units: [0]}]")
    with pytest.raises(ConfigError, match="actor failed to start.*no_such_preset"):
        run(cfg, progress_stream=io.StringIO())
    assert not any((Path(cfg.output.dir) / "jobs").glob("*.parquet"))


def test_progress_line_counts_rate_and_eta() -> None:
    now, out = [0.0], io.StringIO()
    progress = SweepProgress(10, earlier=2, stream=out, clock=lambda: now[0])
    now[0] = 4.0
    progress.update(2, 40)
    now[0] = 5.0
    progress.update(failed=0)  # nothing ended: no new line before the heartbeat
    assert out.getvalue().splitlines() == [
        "jobs 4/10 (2 from earlier runs) | 10.0 samples/s | ETA 0:00:12"]


class SlowFreeing(Worker):
    """Takes three seconds more per job; its first job frees the CPU ``blocker`` holds, after
    those three seconds (so, however fast this actor started, after the pool's start timeout
    of 3 s has given up the actor that could not be placed)."""

    def prepare(self, job):
        import ray

        time.sleep(3)
        try:
            ray.kill(ray.get_actor("blocker"))
        except ValueError:  # already freed
            pass
        return super().prepare(job)


def test_pool_goes_on_with_the_actors_it_can_start_and_grows_back(
    ray_session, toy_cfg, caplog, monkeypatch
) -> None:
    import ray

    from pipeline.runner import pool as pool_module

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    blocker = ray.remote(num_cpus=1)(Blocker).options(name="blocker").remote()
    ray.get(blocker.ready.remote())  # another job holds one of the session's 2 CPUs
    cfg = toy_cfg(ONE_BAND, "cluster.jobs_per_batch=1", "cluster.actors=2",
                  "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]", "sampler.n=8",
                  "bands.values=[[0.2, 0.4], [0.4, 0.6]]")
    plain = to_plain(cfg)
    jobs = expand(plain)
    caplog.set_level(logging.WARNING, "pipeline.runner")
    # a stale look at the cluster (as when a node dies between the look and the start):
    # two actors are asked for, one CPU is free
    monkeypatch.setattr(pool_module, "actor_shape", lambda settings, jobs: (2, 1.0, 0.0))
    with SweepStore(plain["output"]["dir"], "s", {}) as store:
        pool = Pool(model_settings(plain), ClusterSettings.from_config(plain["cluster"]), store,
                    "s", worker=SlowFreeing, start_timeout=3)
        counts = pool.run(jobs, SweepProgress(len(jobs), stream=io.StringIO()))
    assert counts["done"] == len(jobs) == 8
    [line] = [r.getMessage() for r in caplog.records if "could not start" in r.getMessage()]
    assert "goes on with the actors it has" in line
    assert pool._ids == 2, caplog.text  # the second actor joined once the CPU was free
    assert sorted(r["job_id"] for r in read_jobs(plain["output"]["dir"]).to_pylist()) == sorted(
        job.job_id for job in jobs)


class Blocker:
    """An actor that only holds its resources."""

    def ready(self) -> bool:
        return True


def test_dry_run_says_jobs_evaluations_and_dataset_size(toy_cfg, capsys) -> None:
    cfg = toy_cfg()  # 4 jobs, n = 12, K = 4, seeds capped at 300 steps
    dry_run(toy_cfg("sampler.method=fast"), out=io.StringIO())
    fast = capsys.readouterr().err.strip().splitlines()[-1]
    # K x (seed + 2 per sample and chain) steps, each a forward and a backward (3 forwards)
    assert f"{3 * 4 * 4 * (300 + 2 * 2):,} evaluations" in fast
    jobs = dry_run(cfg, out=io.StringIO())
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert len(jobs) == 4 and line.startswith("4 jobs, 48 samples")
    assert f"{4 * 12 * 100:,} evaluations" in line  # ess: n x budget (100) per job, a cap
    each = float(re.search(r"\(([\d.]+) KB per sample", line).group(1)) * 1024
    samples = read_samples(write_in_process(cfg))
    images = sum(len(b) for b in samples.column("image").to_pylist()) / samples.num_rows
    assert samples.column("code").to_pylist()[0] == []  # toy codes are the image's pixels
    stored = images + 2 * 64 + estimate.ROW_BYTES  # 64 float16 features per sample
    assert 0.5 < each / stored < 2


def test_continuous_batching_does_not_change_a_jobs_result(toy_cfg) -> None:
    cfg = toy_cfg(ONE_BAND, "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]")
    plain = to_plain(cfg)
    jobs = expand(plain)
    exact = StoreFormat(codes="float32")
    alone = Worker(model_settings(plain), fmt=exact).run([jobs[2]])[0]
    worker = Worker(model_settings(plain), fmt=exact, jobs_per_batch=2)  # 2 jobs in flight
    assert worker.submit(jobs[:2]) >= 0 and worker.submit(jobs[2:]) >= 0
    outcomes, deadline = {}, time.monotonic() + 300
    while len(outcomes) < 4 and time.monotonic() < deadline:
        outcomes.update((o.job_id, o) for o in worker.collect(1.0))
    assert sorted(outcomes) == sorted(job.job_id for job in jobs)
    packed = outcomes[jobs[2].job_id]  # took the slots of a job that ended before it
    assert packed.status == alone.status and packed.n_samples == alone.n_samples > 0
    for column in ("code", "activations"):
        assert torch.allclose(torch.tensor(packed.samples.column(column).to_pylist()),
                              torch.tensor(alone.samples.column(column).to_pylist()), atol=1e-5)
    assert packed.samples.column("image").equals(alone.samples.column("image"))


def test_queued_jobs_share_one_observation_of_their_ranges(toy_cfg, monkeypatch) -> None:
    import pipeline.runner.actor as actor_module

    cfg = toy_cfg("neurons.select=[{layer: null, units: [0, 1, 2, 3]}]", "bands.range.codes=64")
    plain = to_plain(cfg)
    jobs = expand(plain)
    alone = {job.job_id: Worker(model_settings(plain)).run([job])[0].bands for job in jobs[:3]}
    calls: list[int] = []
    real = actor_module.observed_ranges

    def counted(generator, neurons, *args, **kwargs):
        calls.append(len(neurons))
        return real(generator, neurons, *args, **kwargs)

    monkeypatch.setattr(actor_module, "observed_ranges", counted)
    worker = Worker(model_settings(plain), jobs_per_batch=2)
    worker.submit(jobs)
    outcomes, deadline = {}, time.monotonic() + 300
    while len(outcomes) < len(jobs) and time.monotonic() < deadline:
        outcomes.update((o.job_id, o) for o in worker.collect(1.0))
    assert len(outcomes) == len(jobs) == 8  # 4 units x 2 relative bands
    assert calls == [4]  # one pass over the random codes for the 4 queued neurons
    for job_id, bands in alone.items():
        assert outcomes[job_id].bands == bands


class _Remote:
    """A fake actor method: ``.remote(*args)`` records the call."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def remote(self, *args):
        self.calls.append(args)
        return object()


def test_actors_get_a_few_jobs_ahead_and_the_rest_wait_for_the_first_free_one(toy_cfg):
    from types import SimpleNamespace

    from pipeline.runner.pool import _Actor, ahead

    plain = to_plain(toy_cfg("cluster.jobs_per_batch=3", "cluster.actors=2"))
    settings = ClusterSettings.from_config(plain["cluster"])
    pool = Pool({}, settings, None, "s")
    pool.queue.extend((job, 0) for job in expand(toy_cfg("bands=relative_ladder")))  # 12 jobs
    submitted: list = []
    for i in (1, 2):
        handle = SimpleNamespace(submit=_Remote(submitted), collect=_Remote([]))
        pool.actors[i] = _Actor(handle, None, {})
    pool._fill()
    room = 3 + ahead(3)
    assert ahead(3) == 2 and [len(a.jobs) for a in pool.actors.values()] == [room, room]
    assert len(pool.queue) == 12 - 2 * room  # left for whichever actor frees slots first
    pool.actors[2].jobs.popitem()  # actor 2 finished a job: it gets the next one
    pool._fill()
    assert [len(a.jobs) for a in pool.actors.values()] == [room, room]
    assert len(pool.queue) == 12 - 2 * room - 1
    assert sum(len(jobs) for jobs, _ in submitted) == 2 * room + 1
