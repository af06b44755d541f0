"""Shared fixtures: a toy sweep config, a small dataset written without Ray, one Ray session."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from pipeline.runner import ClusterSettings, Pool, SweepProgress, Worker
from pipeline.store import SweepStore, job_table, open_store
from pipeline.sweep import compose, expand, sweep_hash, to_plain
from pipeline.sweep.expand import model_settings

# The toy preset (8x8 pixels -> 4 logits) with budgets that finish in well under a second.
TOY = [
    "preset=toy",
    "sampler.k=4",
    "sampler.n=12",
    "sampler.max_seed_steps=300",
    "neurons.select=[{layer: null, units: [0, 1]}]",
    "cluster.actors=2",
    "cluster.jobs_per_batch=2",
    "cluster.progress_seconds=0.5",
]


@pytest.fixture
def toy_overrides() -> list[str]:
    """The toy sweep's command-line overrides (for subprocess runs)."""
    return list(TOY)


@pytest.fixture
def toy_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``toy_cfg(*overrides)``: the toy sweep config writing to ``tmp_path / "out"``."""

    def make(*overrides: str) -> DictConfig:
        return compose([*TOY, f"output.dir={tmp_path / 'out'}", *overrides])

    return make


def write_in_process(cfg: DictConfig) -> Path | str:
    """Run a sweep's jobs in this process (no Ray) and store them: a dataset for read tests
    (in a local folder, or at an object-store URI)."""
    plain = to_plain(cfg)
    jobs = expand(plain)
    worker = Worker(model_settings(plain))
    digest = sweep_hash(plain)
    with open_store(plain["output"]["dir"], digest, {"name": plain["name"]}) as store:
        for job, outcome in zip(jobs, worker.run(jobs), strict=True):
            record = outcome.record(job, digest)
            store.write(job.job_id, job.partition, outcome.samples, job_table(record))
        return store.root


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy dataset: 2 output units x 2 relative bands plus an intersection, 12 samples each."""
    out = tmp_path_factory.mktemp("dataset") / "out"
    cfg = compose([
        *TOY, f"output.dir={out}",
        "neurons.intersections=[{name: both, members: [{unit: 0}, {unit: 1}]}]",
    ])
    return write_in_process(cfg)


@pytest.fixture(scope="session")
def ray_session() -> str:
    """One local Ray for the whole test session (2 CPUs); yields its address."""
    import ray  # imported here: only the tests that need Ray pay for it

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def run_pool(cfg: DictConfig, worker: type[Worker]) -> tuple[Pool, dict[str, int], Path]:
    """Run the jobs of ``cfg`` through a Pool whose actors are ``worker``; return the pool,
    the status counts and the dataset folder."""
    plain = to_plain(cfg)
    jobs = expand(plain)
    settings = ClusterSettings.from_config(plain["cluster"])
    with SweepStore(plain["output"]["dir"], "s", {}) as store:
        pool = Pool(model_settings(plain), settings, store, "s", worker=worker)
        counts = pool.run(jobs, SweepProgress(len(jobs), stream=io.StringIO()))
    return pool, counts, store.root
