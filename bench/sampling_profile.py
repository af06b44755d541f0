"""The sampler's own time in an actor's sampling thread: ``advance`` against the rest.

Runs the device-efficiency sweep's jobs (:func:`bench.breakdown.sweep_config`: ``units``
output units x the 2 default relative bands, K = 10, 4 jobs per batch) through one
in-process :class:`pipeline.runner.Worker` on one torch thread, and reports the CPU time
of its sampling thread and of the phases' ``advance`` (acceptance, tracing, thinning,
proposals), the prior draws' map (``settle``), the batched evaluations (and in them G, f and
E, and the backward) and verification in it; with ``--timers`` also the sampler's own time:
the thread's, less G, f, E, the backward and verification. By default under cProfile with
the thread's CPU clock (``time.thread_time``: other processes do not count), which also
prints the functions with the most time of their own; ``--timers`` times the same stages
with plain CPU-time wrappers instead (no profiler overhead); ``--syncs`` counts, per call
of ``advance``, the reads of tensor values on the host (``bool``, ``int``, ``float``,
``tolist``, ``item``, ``nonzero``, ``cpu``: each waits for the device on a GPU).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

import pipeline.runner.actor as actor_module
import pipeline.sampler.batch as batch_module
import pipeline.sampler.engine as engine_module
from bench.breakdown import sweep_config, timers
from pipeline.runner import Worker
from pipeline.sampler.explore import ExplorePhase
from pipeline.sweep import expand, to_plain
from pipeline.sweep.expand import model_settings

STAGES = (
    (engine_module, "evaluate_batch", "evaluate_batch"),
    (engine_module, "finalize", "finalize"),
    (ExplorePhase, "advance", "advance"),
    (engine_module, "settle", "settle"),
    (batch_module, "_store", "G"),
    (batch_module, "_read", "f"),
    (torch.autograd, "grad", "backward"),
    (actor_module.Worker, "_drain", "thread"),
)
MODEL = ("G", "f", "backward")  # in evaluate_batch: G (and quantize), f and E, backward


def run_jobs(preset: str, units: int, n: int) -> None:
    """The sweep's jobs through one in-process worker, until every job is back."""
    size = 64 if preset == "faces" else None
    with tempfile.TemporaryDirectory(prefix="bench-sampling-") as tmp:
        cfg = sweep_config(preset, size, units, n, Path(tmp) / "out")
        jobs, model = expand(cfg), model_settings(to_plain(cfg))
        worker = Worker(model, root=str(Path(tmp) / "out"), jobs_per_batch=4)
        worker.submit(jobs)
        outcomes: list = []
        while len(outcomes) < len(jobs):
            outcomes += worker.collect(1.0)


def timed(preset: str, units: int, n: int) -> dict[str, float]:
    """CPU seconds of each stage, without a profiler."""
    with timers(STAGES) as seconds:
        run_jobs(preset, units, n)
    return dict(seconds)


def profiled(preset: str, units: int, n: int, out: str | None) -> tuple[dict[str, float], Any]:
    """CPU seconds of each stage from cProfile of the sampling thread, and the stats."""
    profile = cProfile.Profile(time.thread_time)
    drain = actor_module.Worker._drain

    def traced(self: Worker, *args: Any) -> Any:
        profile.enable()
        try:
            return drain(self, *args)
        finally:
            profile.disable()

    actor_module.Worker._drain = traced
    try:
        run_jobs(preset, units, n)
    finally:
        actor_module.Worker._drain = drain
    if out:
        profile.dump_stats(out)
    stats = pstats.Stats(profile)
    names = {"_drain": "thread", "advance": "advance", "evaluate_batch": "evaluate_batch",
             "finalize": "finalize", "find_layer": "find_layer", "find_layers": "find_layers"}
    seconds = dict.fromkeys(names.values(), 0.0)
    for (_, _, func), row in stats.stats.items():
        if func in names:
            seconds[names[func]] = max(seconds[names[func]], row[3])
    return seconds, stats


SYNCS = ("__bool__", "__int__", "__float__", "__index__", "tolist", "item", "nonzero", "cpu")


class _Reads(TorchFunctionMode):
    """Counts the tensor functions that read values back to the host."""

    def __init__(self, counts: Counter) -> None:
        super().__init__()
        self.counts = counts

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        name = getattr(func, "__name__", "")
        if name in SYNCS:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def host_reads(preset: str, units: int, n: int) -> dict[str, float]:
    """Host reads of tensor values per call of ``ExplorePhase.advance``, by kind."""
    counts: Counter = Counter()
    calls = [0]
    advance = ExplorePhase.advance

    def counted(self: ExplorePhase, view: Any) -> Any:
        calls[0] += 1
        with _Reads(counts):
            return advance(self, view)

    ExplorePhase.advance = counted
    try:
        run_jobs(preset, units, n)
    finally:
        ExplorePhase.advance = advance
    return {name: counts[name] / max(calls[0], 1) for name in SYNCS}


def main(argv: list[str] | None = None) -> None:
    """Print the stages' CPU seconds and shares of the sampling thread."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist")
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--timers", action="store_true", help="no profiler: CPU-time wrappers")
    parser.add_argument("--out", help="write the cProfile stats here")
    parser.add_argument("--top", type=int, default=25, help="functions listed by own time")
    parser.add_argument("--syncs", action="store_true", help="host reads per advance call")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.syncs:
        reads = host_reads(args.preset, args.units, args.n)
        print(f"host reads per advance: {sum(reads.values()):.2f}",
              {name: round(value, 2) for name, value in reads.items() if value})
        return
    stats = None
    if args.timers:
        seconds = timed(args.preset, args.units, args.n)
    else:
        seconds, stats = profiled(args.preset, args.units, args.n, args.out)
    total = seconds.pop("thread")
    print(f"{args.preset}, {2 * args.units} jobs: sampling thread {total:.2f} CPU s")
    for name, value in seconds.items():
        print(f"  {name}: {value:.3f} s ({value / total:.1%})")
    if all(name in seconds for name in MODEL):
        own = total - sum(seconds[name] for name in MODEL) - seconds["finalize"]
        print(f"  sampler's own (thread - G - f - backward - finalize): {own:.3f} s "
              f"({own / total:.1%})")
    if stats is not None:
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
