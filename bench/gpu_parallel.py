"""Several sampler processes sharing one device (``cluster.gpus_per_actor`` < 1).

The sampler's per-job bookkeeping runs on one host core per process; where that, not the
device, bounds a process, several processes on one GPU add up. Each process loads the
preset, plans its row counts (:func:`bench.gpu_measure.warm`), waits at a barrier, then
all run a window of the same length at once on different jobs; the row sums their rates
(device utilisation is read by the parent during the common window).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from bench import gpu_measure as gm
from pipeline import zoo
from pipeline.sampler import Problem, SamplerConfig

Jobs = Callable[[zoo.Preset, int, int], Iterator[Problem]]


def _worker(name: str, size: int, device: str, jobs: Jobs, n: int, first: int, chains: int,
            seconds: float, warm_rows: int, barrier: Any, results: Any) -> None:
    """One process: load, plan the row counts, wait for the others, run one window; on a
    failure, break the barrier (the others and the parent stop waiting) and report it."""
    try:
        torch.set_num_threads(1)
        dev = torch.device(device)
        preset = zoo.load(name, device=dev, size=size)
        warm = gm.warm(preset, dev, most=warm_rows)
        barrier.wait(timeout=600)
        row = gm.window(preset, jobs(preset, n, first), chains,
                        SamplerConfig(k=10, quantize=True), seconds, dev)
        results.put({**row, "warm_seconds": warm})
    except Exception as err:  # noqa: BLE001 - reported to the parent as this process's row
        barrier.abort()
        results.put({"error": f"{type(err).__name__}: {str(err)[:200]}"})


def parallel(name: str, size: int, device: torch.device, jobs: Jobs, n: int, procs: int,
             chains: int, seconds: float, warm_rows: int) -> dict[str, Any]:
    """``procs`` processes of ``chains`` chains each on ``device`` for ``seconds`` (row
    counts planned up to ``warm_rows`` first)."""
    if device.type == "cuda":  # give the processes what this one's allocator keeps cached
        torch.cuda.empty_cache()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(name, size, str(device), jobs, n,
                                                 100_000 * (i + 1), chains, seconds, warm_rows,
                                                 barrier, results), daemon=True)
               for i in range(procs)]
    for w in workers:
        w.start()
    busy = gm.Utilisation(torch.device("cpu"))
    try:
        try:
            barrier.wait(timeout=600)
            with gm.Utilisation(device) as busy:
                time.sleep(seconds)
        except threading.BrokenBarrierError:
            pass  # a process failed: its row says why
        rows = [results.get(timeout=600) for _ in workers]
    finally:
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.kill()
    good = [r for r in rows if "kind" in r]
    total = {key: sum(r[key] for r in good)
             for key in ("samples_per_s", "late_samples_per_s", "evals_per_s", "steps_per_s")}
    return {"kind": "parallel", "preset": name, "procs": procs, "chains": chains, **total,
            "errors": [r["error"] for r in rows if r["error"]], "utilisation": busy.mean,
            "warm_seconds": max((r["warm_seconds"] for r in good), default=0.0),
            "pass_share": sum(r["pass_share"] or 0 for r in good) / procs}
