"""Run a composed sweep config: expand, open the store, skip finished jobs, run the rest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import ray
from omegaconf import DictConfig

from pipeline.runner import ClusterSettings, JobSpec, Pool, SweepProgress, connect
from pipeline.runner.estimate import summary
from pipeline.store import StoreFormat, open_store
from pipeline.sweep.config import RESULT_KEYS, sweep_hash, to_plain
from pipeline.sweep.expand import LazyModels, check_neurons, expand, model_settings
from pipeline.sweep.interrupt import counted


def describe(job: JobSpec) -> dict[str, Any]:
    """One job as a JSON-able line for the dry run."""
    return {
        "job_id": job.job_id,
        "target": job.target,
        "partition": list(job.partition),
        "neurons": [ref.as_dict() for ref in job.neurons],
        "bands": [band.as_dict() for band in job.bands],
        "n": job.n,
        "seed": job.seed,
    }


def checked_jobs(plain: dict[str, Any], info: LazyModels | None = None) -> list[JobSpec]:
    """The jobs of a resolved config, their neurons checked on the models (CPU)."""
    info = info or LazyModels(model_settings(plain), (plain["cluster"] or {}).get("cache_dir"))
    jobs = expand(plain, info)
    check_neurons(jobs, info)
    return jobs


def dry_run(cfg: DictConfig | dict[str, Any], out: TextIO | None = None) -> list[JobSpec]:
    """Print the expanded jobs as JSON lines (nothing is run or written), then on stderr the
    job count, the expected evaluations and dataset size; return the jobs."""
    out = out if out is not None else sys.stdout
    plain = to_plain(cfg)
    info = LazyModels(model_settings(plain), (plain["cluster"] or {}).get("cache_dir") or None)
    jobs = checked_jobs(plain, info)
    for job in jobs:
        out.write(json.dumps(describe(job), sort_keys=True) + "\n")
    print(summary(jobs, info.models, StoreFormat.from_config(plain["output"])), file=sys.stderr)
    return jobs


def run(cfg: DictConfig | dict[str, Any], progress_stream: TextIO | None = None) -> Path | str:
    """Run the sweep described by ``cfg`` (compose it with :func:`pipeline.sweep.compose`).

    Resumes by default: jobs with a job record in the output folder are skipped. Uses the
    Ray session of this process if one is initialised, else starts or joins one (per
    ``cluster.address``) and shuts it down at the end. Returns the output folder (its URI
    on an object store). In a new output folder the actors are launched first, so that
    their start (process, imports, models) overlaps the expansion of the sweep; a resume
    expands first (it may have nothing left to run).

    Ctrl-C or SIGTERM (see :mod:`pipeline.sweep.interrupt`) raise ``Interrupted`` carrying
    how many jobs are done. Bad settings raise a one-line :class:`ConfigError`; one found
    before any job is stored (including Ray or the actors failing to start) leaves no new
    output folder behind.
    """
    plain = to_plain(cfg)
    settings = ClusterSettings.from_config(plain["cluster"])
    digest = sweep_hash(plain)
    record = {"name": plain.get("name"), **{key: plain[key] for key in RESULT_KEYS}}
    fmt = StoreFormat.from_config(plain["output"])
    model = model_settings(plain)
    with open_store(plain["output"]["dir"], digest, record, fmt) as store:
        fresh = not store.finished()  # a new sweep: every job will run
        started = connect(settings) if fresh else False
        pool = Pool(model, settings, store, digest)
        try:
            if fresh:  # the actors start (processes, imports, models) while the driver expands
                pool.launch()
            jobs = checked_jobs(plain)
            finished = store.finished()
            pending = [job for job in jobs if job.job_id not in finished]
            progress = SweepProgress(len(jobs), len(jobs) - len(pending),
                                     settings.progress_seconds, progress_stream)
            if pending and not fresh:  # a resume connects only if there is work left
                started = connect(settings)
            ids = {job.job_id for job in jobs}
            with counted(len(jobs), lambda: len(store.finished() & ids)):
                counts = pool.run(pending, progress)
        finally:
            pool.stop()
            if started:
                ray.shutdown()
        print(
            f"sweep {digest}: {len(jobs)} jobs ({len(jobs) - len(pending)} from earlier runs, "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + f"); dataset at {store.root}",
            file=progress.stream,
        )
        return store.root
