"""A sweep through ``ray job submit`` (jobs/submit.sh) on a real two-node local Ray cluster
survives losing its worker node while the head is full: every job ends complete, once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc

from pipeline.store import read_jobs, read_samples
from tests.local_cluster import ROOT, LocalCluster

JOBS, N = 8, 60
SWEEP = [  # 4 toy units x 2 bands, one job per batch: one actor on each node (1 CPU each)
    "preset=toy", "sampler.k=4", f"sampler.n={N}", "sampler.max_seed_steps=300",
    "neurons.select=[{layer: null, units: [0, 1, 2, 3]}]", "cluster.jobs_per_batch=1",
    "cluster.progress_seconds=0.5",
]
LIMIT = 180  # seconds for the sweep to start, and again to end after the node loss


def stored(root: Path) -> int:
    """Job records committed so far (0 before the dataset exists)."""
    try:
        return read_jobs(root).num_rows
    except (OSError, ValueError):
        return 0


def test_sweep_survives_losing_a_worker_node_with_the_head_full(tmp_path: Path) -> None:
    out = tmp_path / "sweeps" / "toy"
    with LocalCluster(cpus=1) as cluster:
        worker = cluster.add_node(cpus=1)
        env = {**os.environ, "RAY_ADDRESS": cluster.dashboard_url, "OUTPUT_DIR": str(out),
               "RUNTIME_ENV": "jobs/runtime_env.image.yaml", "JOB_PYTHON": sys.executable,
               "PYTHON": sys.executable}
        log = (tmp_path / "submit.log").open("w")
        submit = subprocess.Popen([str(ROOT / "jobs" / "submit.sh"), *SWEEP], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + LIMIT
            while stored(out) < 1 and submit.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            worker.kill()  # mid-sweep: the head's one CPU is held by the other actor
            at_kill = stored(out)
            submit.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            pass  # reported below, with the log
        finally:
            if submit.poll() is None:
                submit.kill()
            log.close()
        text = (tmp_path / "submit.log").read_text()
    assert submit.returncode is not None and submit.returncode >= 0, (
        f"the sweep hung after losing the node (killed after {LIMIT} s; {stored(out)} of "
        f"{JOBS} jobs stored):\n{text[-3000:]}")
    assert submit.returncode == 0, text[-4000:]
    assert 1 <= at_kill < JOBS, f"the node was lost after {at_kill} of {JOBS} jobs"
    jobs = read_jobs(out)
    ids = jobs.column("job_id").to_pylist()
    assert len(ids) == len(set(ids)) == JOBS  # every job, once
    assert set(jobs.column("status").to_pylist()) <= {"done", "infeasible"}, text[-4000:]
    samples = read_samples(out, columns=["job_id", "sample"])
    pairs = list(zip(samples.column("job_id").to_pylist(), samples.column("sample").to_pylist(),
                     strict=True))
    assert len(pairs) == len(set(pairs))  # no sample stored twice
    for job_id, n_samples in zip(ids, jobs.column("n_samples").to_pylist(), strict=True):
        mask = pc.equal(samples.column("job_id"), job_id)
        assert pc.sum(mask).as_py() == n_samples
