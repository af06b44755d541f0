"""Where an actor's time goes: the device-efficiency sweep's jobs on one in-process worker.

The jobs of :func:`bench.packing.device_efficiency`'s sweep (``units`` output units x the 2
default relative bands, K = 10, ``jobs_per_batch`` jobs in flight) run through one
:class:`pipeline.runner.Worker` in this process, exactly as an actor's sampling thread runs
them (``submit``, then ``collect`` until every job is back), on one torch thread. Timers
of each thread's CPU time (``time.thread_time``: other processes on a shared machine do
not count; the bare times are CPU times too) wrap the sampling thread's loop and its
stages: observing the relative bands' ranges, the engine's batched evaluations
(``evaluate_batch``; its bare part is the jobs' forward-only rows x the bare ``no_grad``
forward per row + gradient rows x the bare forward + backward per row, at the batch's
rows) and verification (``finalize``); building a job's samples table (PNG encoding) and
writing its shard run in the worker's writer thread, beside the sampling one. "Sampler
bookkeeping" is the rest of the sampling thread's time (each phase's ``advance``:
acceptance, diagnostics, thinning, proposals). The worker's start (Ray's actor process,
Python imports, model loading) is timed apart, in wall time: a Ray actor started from
nothing until its ``describe`` answers, and one load of the models.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
import torch

import pipeline.runner.actor as actor_module
import pipeline.sampler.engine as engine_module
from bench.packing import bare_row_seconds, process_cpu_seconds
from pipeline import zoo
from pipeline.runner import Worker
from pipeline.runner.models import Models
from pipeline.sweep import compose, expand, to_plain
from pipeline.sweep.expand import model_settings

SAMPLING = "the sampling thread (Worker._drain)"
WRITER = ("samples table (PNG encoding; writer thread)", "shard writing (writer thread)")
STAGES = (
    (engine_module, "evaluate_batch", "evaluations (evaluate_batch)"),
    (engine_module, "finalize", "verification (finalize)"),
    (actor_module, "observed_ranges", "observed ranges of relative bands"),
    (actor_module, "samples_table", WRITER[0]),
    (actor_module, "write_samples", WRITER[1]),
    (actor_module.Worker, "_drain", SAMPLING),
)


@contextmanager
def timers(stages: tuple = STAGES) -> Iterator[dict[str, float]]:
    """CPU seconds of the calling thread spent in each stage's function while the block
    runs (any thread; CPU time, so that other processes on the machine do not count)."""
    seconds: dict[str, float] = defaultdict(float)
    saved = [(module, name, getattr(module, name)) for module, name, _ in stages]

    def wrap(func: Callable, label: str) -> Callable:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                seconds[label] += time.thread_time() - start
        return timed

    for (module, name, func), (_, _, label) in zip(saved, stages, strict=True):
        setattr(module, name, wrap(func, label))
    try:
        yield seconds
    finally:
        for module, name, func in saved:
            setattr(module, name, func)


def sweep_config(preset: str, size: int | None, units: int, n: int, out: Path) -> Any:
    """The device-efficiency sweep's config (:func:`bench.packing.device_efficiency`)."""
    options = [] if size is None else [f"+network.options.size={size}"]
    return compose([
        f"preset={preset}", *options,
        f"neurons.select=[{{layer: null, units: {list(range(units))}}}]",
        f"sampler.n={n}", "sampler.k=10", f"output.dir={out}", "name=bench-breakdown",
    ])


def start_seconds(
    model: dict[str, Any], actor: bool = True
) -> tuple[float | None, float, float | None]:
    """Seconds until a new Ray actor running :class:`Worker` answers (its process, imports
    and model loading; None unless ``actor``), of one load of the models in this process
    (weights cached), and the CPU seconds the actor's process had used when it answered."""
    begin = time.perf_counter()
    Models(model, torch.device("cpu"))
    load = time.perf_counter() - begin
    if not actor:
        return None, load, None
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
    try:
        begin = time.perf_counter()
        handle = ray.remote(Worker).options(num_cpus=1).remote(model)
        info = ray.get(handle.describe.remote())
        seconds = time.perf_counter() - begin
        cpu = process_cpu_seconds(info["pid"])
        ray.kill(handle)
    finally:
        if started:
            ray.shutdown()
    return seconds, load, cpu


def breakdown(preset: str = "mnist", size: int | None = None, units: int = 8, n: int = 50,
              batch: int = 4, actor: bool = True) -> dict[str, Any]:
    """CPU seconds per stage of the sweep's jobs on one in-process worker (one torch
    thread); ``actor``: also time a Ray actor's start."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp:
            cfg = sweep_config(preset, size, units, n, Path(tmp) / "out")
            jobs, model = expand(cfg), model_settings(to_plain(cfg))
            start, load, start_cpu_s = start_seconds(model, actor)
            worker = Worker(model, root=str(Path(tmp) / "out"), jobs_per_batch=batch)
            with timers() as seconds:
                begin = time.perf_counter()
                worker.submit(jobs)
                outcomes: list = []
                while len(outcomes) < len(jobs):
                    outcomes += worker.collect(1.0)
                wall = time.perf_counter() - begin
            t_plain, t_both = bare_row_seconds(
                zoo.load(preset, **({} if size is None else {"size": size})), batch * 10,
                clock=time.thread_time)
    finally:
        torch.set_num_threads(threads)
    forwards = sum(int(o.stats.get("evals_forward") or 0) for o in outcomes)
    backwards = sum(int(o.stats.get("evals_backward") or 0) for o in outcomes)
    bare = (forwards - backwards) * t_plain + backwards * t_both
    stages = dict(seconds)
    bands = {job.job_id: [(b.lo, b.hi) for b in job.bands] for job in jobs}
    lengths = [(o.job_id, bands[o.job_id], o.stats.get("evals_forward"),
                o.stats.get("evals_backward"), o.status) for o in outcomes]
    return {"preset": preset + (f" {size} px" if size else ""), "jobs": len(jobs),
            "statuses": sorted(o.status for o in outcomes), "total": stages.pop(SAMPLING),
            "wall": wall, "bare": bare, "stages": stages, "actor_start": start,
            "model_load": load, "actor_start_cpu": start_cpu_s, "lengths": lengths}


START_CPU = """
import sys, time
import pipeline.runner.actor  # what an actor imports
imported = time.process_time()
import torch
from pipeline.runner.models import Models
from pipeline.sweep import compose, to_plain
from pipeline.sweep.expand import model_settings
model = model_settings(to_plain(compose(sys.argv[1:])))
begin = time.process_time()
Models(model, torch.device("cpu"))
print(imported, time.process_time() - begin)
"""


def start_cpu(preset: str, size: int | None = None) -> tuple[float, float]:
    """CPU seconds, in a new Python process on one thread, of an actor's imports and of
    loading the preset's models after them (other processes do not inflate CPU time)."""
    options = [] if size is None else [f"+network.options.size={size}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", START_CPU, f"preset={preset}", *options],
                         capture_output=True, text=True, check=True, env=env)
    imports, load = out.stdout.split()[-2:]
    return float(imports), float(load)


def lengths_table(result: dict[str, Any]) -> str:
    """Markdown table of each job's length: its bands and the rows it evaluated."""
    lines = ["| job | bands | rows forward / backward | status |", "|---|---|---|---|"]
    lines += [f"| {job[:8]} | {bands} | {fwd} / {bwd} | {status} |"
              for job, bands, fwd, bwd, status in result["lengths"]]
    return "\n".join(lines)


def table(result: dict[str, Any]) -> str:
    """Markdown table of one breakdown: seconds and share of the sampling thread's time."""
    total, stages = result["total"], dict(result["stages"])
    evaluate = stages.pop("evaluations (evaluate_batch)", 0.0)
    sampling = sum(sec for name, sec in stages.items() if name not in WRITER)
    rows = [
        ("bare evaluations (forward-only and gradient rows, at the batch's rows)", result["bare"]),
        ("evaluations beyond bare (small gradient passes, gathers, hooks)",
         evaluate - result["bare"]),
        *stages.items(),
        ("sampler bookkeeping (the rest of the sampling thread: advance, acceptance, "
         "diagnostics, pulling jobs)", total - evaluate - sampling),
    ]
    lines = [f"{result['preset']}: {result['jobs']} jobs on one in-process worker, "
             f"{total:.1f} CPU s in its sampling thread ({result['wall']:.1f} s wall); bare "
             f"evaluations / sampling thread's CPU time {result['bare'] / total:.2f}.", "",
             "| stage | CPU s | share of the sampling thread |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.2f} | {sec / total:.2f} |" for name, sec in rows]
    start = result["actor_start"]
    cpu = result["actor_start_cpu"]
    lines += [f"| (apart, wall s) a Ray actor's start until it answers | "
              f"{'not measured' if start is None else f'{start:.2f}'} | |",
              f"| (apart, CPU s) its process's CPU time when it answered | "
              f"{'not measured' if cpu is None else f'{cpu:.2f}'} | |",
              f"| (apart, wall s) loading the models | {result['model_load']:.2f} | |"]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--no-actor-start", action="store_true",
                        help="do not start a Ray actor to time its start")
    parser.add_argument("--jobs", action="store_true", help="also each job's length")
    parser.add_argument("--start-cpu", action="store_true",
                        help="only the CPU time of an actor's imports and model loading")
    args = parser.parse_args()
    if args.start_cpu:
        imports, load = start_cpu(args.preset, args.size)
        print(f"an actor's imports {imports:.2f} CPU s, loading the models {load:.2f} CPU s")
    else:
        result = breakdown(args.preset, args.size, args.units, args.n,
                           actor=not args.no_actor_start)
        print(table(result))
        if args.jobs:
            print("\n" + lengths_table(result))
