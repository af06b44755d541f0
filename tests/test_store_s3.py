"""The store on a real S3-compatible server (moto's server mode, on 127.0.0.1): a sweep
writes every shard and record once, the lock object keeps a second driver out, damaged
objects are quarantined, and a driver killed mid-sweep resumes without loss or duplicates."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.store import (
    ObjectSweepStore,
    open_store,
    read_jobs,
    read_manifest,
    read_samples,
    samples_table,
)
from pipeline.store.lockobj import LockObject
from pipeline.store.objects import exists, files, get_text, open_uri, put
from pipeline.sweep import expand, run
from pipeline.sweep.__main__ import where_to_look
from tests.local_cluster import free_ports
from tests.servers import serve
from tests.test_store import NEURONS, fake_result, record

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "sweeps"
KEYS = "testing:testing"  # moto accepts any credentials; in the URI so that Ray workers have them


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on a free port of 127.0.0.1 with a bucket; stopped by its PID."""
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with serve([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
               url, log):
        pafs.S3FileSystem(endpoint_override=url, access_key="testing", secret_key="testing",
                          allow_bucket_creation=True).create_dir(BUCKET)
        yield url


@pytest.fixture
def s3_env(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The endpoint in the environment, as pyarrow reads it; returns it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return endpoint


def uri(prefix: str) -> str:
    """An output.dir in the test bucket."""
    return f"s3://{KEYS}@{BUCKET}/{prefix}"


def keys(root: str) -> list[str]:
    """Every object under ``root``, relative to it."""
    fs, base = open_uri(root)
    return [path[len(base) + 1:] for path in files(fs, base)]


def locks_commits_and_quarantines(root: str, foreign: str) -> None:
    """The store on an object-store prefix ``root``: the lock object keeps a second driver
    out and goes at the end; records commit; an orphan shard is deleted and a damaged
    record quarantined on the next opening. ``foreign``: a prefix that holds other files."""
    table = samples_table("j1", "fc:1", NEURONS, fake_result(3))
    with open_store(root, "s", {"name": "a"}) as store:
        assert isinstance(store, ObjectSweepStore) and ".lock" in keys(root)
        with pytest.raises(ConfigError, match="in use by another running sweep") as err:
            open_store(root, "s", {})
        assert "\n" not in str(err.value)
        store.write("j1", ("fc", 1), table, record("j1", n_samples=3))
        store.write("j2", ("fc", 1), samples_table("j2", "fc:1", NEURONS, fake_result(2)),
                    record("j2", n_samples=2))
        fs, base = open_uri(root)
        put(fs, f"{base}/samples/layer=fc/unit=1/lost.parquet", b"an orphan of a killed run")
        assert store.finished() == {"j1", "j2"}
    assert ".lock" not in keys(root)  # removed at the end
    put(fs, f"{base}/jobs/j2.parquet", b"PAR1 truncated")  # a damaged record
    with open_store(root, "s2", {"name": "b"}) as store:
        assert store.quarantined == ["j2"] and store.orphans_removed == 1
        assert store.finished() == {"j1"}
    moved = [k for k in keys(root) if k.startswith("quarantine/")]
    assert sorted(k.split("/", 2)[2] for k in moved) == [
        "jobs/j2.parquet", "samples/layer=fc/unit=1/j2.parquet"]
    assert [s["hash"] for s in read_manifest(root)["sweeps"]] == ["s", "s2"]
    assert read_samples(root).column("job_id").to_pylist() == ["j1"] * 3
    other, at = open_uri(foreign)
    put(other, f"{at}/notes.txt", b"mine")
    with pytest.raises(ConfigError, match="not a sweep output"):
        open_store(foreign, "s", {})


def test_store_on_s3_locks_commits_and_quarantines(s3_env: str) -> None:
    locks_commits_and_quarantines(uri("unit"), uri("foreign"))


def objects_are_whole_and_unique(root: str, expected: dict) -> list[dict]:
    """Every job has one record, and one shard holding its ``n_samples`` samples, each once
    and in its partition; return the records."""
    names = keys(root)
    jobs = read_jobs(root).to_pylist()
    assert sorted(r["job_id"] for r in jobs) == sorted(expected)
    assert sorted(k for k in names if k.startswith("jobs/")) == sorted(
        f"jobs/{j}.parquet" for j in expected)
    assert sorted(k for k in names if k.startswith("samples/")) == sorted(
        f"samples/layer={expected[r['job_id']].partition[0]}/"
        f"unit={expected[r['job_id']].partition[1]}/{r['job_id']}.parquet"
        for r in jobs if r["n_samples"])
    assert not [k for k in names if k.startswith(".") or k.endswith(".tmp")]
    samples = read_samples(root, columns=["job_id", "sample", "layer", "unit"]).to_pylist()
    pairs = [(s["job_id"], s["sample"]) for s in samples]
    assert len(pairs) == len(set(pairs)) == sum(r["n_samples"] for r in jobs) > 0
    assert sorted(pairs) == sorted((r["job_id"], i) for r in jobs for i in range(r["n_samples"]))
    assert all(expected[s["job_id"]].partition == (s["layer"], s["unit"]) for s in samples)
    return jobs


def sweep_writes_once(root: str, toy_cfg) -> None:
    """A toy sweep into ``root`` writes one record and one whole shard per job, once."""
    cfg = toy_cfg(f"output.dir='{root}'", "sampler.n=6")
    stream = io.StringIO()
    assert run(cfg, progress_stream=stream) == root
    assert "jobs 4/4" in stream.getvalue()
    jobs = objects_are_whole_and_unique(root, {job.job_id: job for job in expand(cfg)})
    assert all(r["status"] in ("done", "partial") and r["attempts"] == 1 for r in jobs)
    assert ".lock" not in keys(root)


def test_sweep_writes_to_s3(ray_session, s3_env: str, toy_cfg) -> None:
    sweep_writes_once(uri("toy"), toy_cfg)


def kill_and_resume(root: str, toy_cfg, toy_overrides: list[str], address: str,
                    tmp_path: Path) -> None:
    """Kill a sweep's driver (SIGKILL) once it has committed a job to ``root``, rerun it in
    this process, and check that every job ends with one record and one shard, once, and
    that the jobs finished before the kill were not redone."""
    extra = ["neurons.select=[{layer: null, units: [0, 1, 2, 3]}]", "sampler.n=16",
             "bands.values=[[0.25, 0.5], [0.5, 0.75], [0.75, 1.0]]", "cluster.jobs_per_batch=1"]
    log = tmp_path / "driver.log"
    command = [sys.executable, "-m", "pipeline.sweep", *toy_overrides, *extra,
               f"output.dir='{root}'", f"cluster.address={address}",
               f"hydra.run.dir={tmp_path / 'hydra'}"]
    with open(log, "w") as stderr:
        driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 90
        while driver.poll() is None and time.monotonic() < deadline:
            if any(k.startswith("jobs/") for k in keys(root)):
                break
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    assert ".lock" in keys(root)  # the killed driver's lock is left behind
    before = {r["job_id"]: r["finished_at"] for r in read_jobs(root).to_pylist()}
    assert 1 <= len(before) < 12, log.read_text()[-2000:]

    stream = io.StringIO()
    cfg = toy_cfg(*extra, f"output.dir='{root}'", "cluster.resource_timeout=60")
    assert run(cfg, progress_stream=stream) == root  # the dead driver's lock is taken over
    assert "jobs 12/12" in stream.getvalue() and "from earlier runs" in stream.getvalue()
    jobs = objects_are_whole_and_unique(root, {job.job_id: job for job in expand(cfg)})
    assert all(r["status"] == "done" and r["n_samples"] == 16 for r in jobs)
    after = {r["job_id"]: r["finished_at"] for r in jobs}
    assert {k: after[k] for k in before} == before  # finished jobs were not redone
    assert ".lock" not in keys(root)


def test_killed_sweep_on_s3_resumes_without_loss_or_duplicates(
    ray_session, s3_env: str, toy_cfg, toy_overrides, tmp_path
) -> None:
    kill_and_resume(uri("killed"), toy_cfg, toy_overrides, ray_session, tmp_path)


def test_unreachable_store_is_one_environment_fault(s3_env: str) -> None:
    dead = free_ports(1)[0]  # nothing listens there
    started = time.monotonic()
    with pytest.raises(EnvironmentFault, match="object store of output.dir") as err:
        open_store(f"s3://{KEYS}@{BUCKET}/x?endpoint_override=127.0.0.1:{dead}&scheme=http",
                   "s", {})
    assert "\n" not in str(err.value) and time.monotonic() - started < 60


def test_the_end_of_a_sweep_says_where_the_bucket_is_and_how_to_browse_it() -> None:
    text = where_to_look("s3://bucket/sweeps/toy")
    assert "s3://bucket/sweeps/toy/jobs" in text
    assert "python -m pipeline.atlas dataset='s3://bucket/sweeps/toy'" in text
    assert "python -m pipeline.atlas dataset=/data/toy " in where_to_look(Path("/data/toy"))


def test_lock_object_is_renewed_and_a_stale_one_from_another_host_is_taken_over(
    s3_env: str, caplog
) -> None:
    fs, base = open_uri(uri("locks"))
    path = f"{base}/.lock"
    other = {"sweep": "x", "host": "elsewhere", "pid": 1, "token": "t"}
    put(fs, path, json.dumps({**other, "renewed": time.time()}).encode())
    with pytest.raises(ConfigError, match="in use.*elsewhere"):  # live on another host
        LockObject(fs, path, "s").acquire()
    put(fs, path, json.dumps({**other, "renewed": time.time() - 1000}).encode())
    lock = LockObject(fs, path, "s", interval=0.2)
    lock.acquire()  # not renewed for 1000 s: stale
    assert "taking over the stale lock" in caplog.text
    first = json.loads(get_text(fs, path))["renewed"]
    time.sleep(1)
    assert json.loads(get_text(fs, path))["renewed"] > first  # renewed while held
    lock.release()
    assert not exists(fs, path)
