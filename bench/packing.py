"""Throughput: jobs packed into one batch, and a Ray sweep with 1 and 2 actors.

Packing: the same 16 problems of the `mnist` preset (the ten digit logits and six more
with other seeds, band = the 75-95% quantiles of each logit over 256 random codes,
n = 100, K = 10, quantised) run as 16 batches of 1 job, 4 of 4 and 1 of 16 with
:func:`pipeline.sampler.sample_problems`, with the default sampler (``ess``) and with the
fast one (``method="fast"``); every job's chains share each forward (and backward) pass of
its batch. Ray: ``pipeline.sweep.run`` on a small `mnist` sweep (4
output neurons x 2 relative bands, n = 50, 2 jobs per batch), 1 actor against 2 actors of
1 CPU each, model loading and Ray start-up included (they are part of a real sweep).
Device efficiency: sweeps of 16 and 64 jobs (:data:`EFFICIENCY_SWEEPS`: `mnist`, 8 output
units or 32 units of fc6 x the 2 default relative bands; `faces` at 64 px, 8 or 32 output
units; K = 10, 4 jobs per batch, and two 64-job sweeps at 8, as ``cluster=ray`` runs them)
at the bench's short n (50 on `mnist`, 20 on `faces`) and at the overnight sweep's n (500 on
`mnist`, 100 on `faces`), on 2 actors of 1 CPU: the bare time of all its chain evaluations,
each counted as what it costs (from the job records: ``evals_forward`` rows, of which
``evals_backward`` took a gradient; a forward-only row at the bare ``torch.no_grad`` forward
per row, a gradient row at the bare forward-with-autograd + backward per row, both timed at
the batch's full size (40 rows, 80 at 8 jobs per batch) on one thread, in CPU time:
``time.thread_time``, so that other processes on a shared machine do not inflate it; 21
passes of each kind before the sweep and 21 after it, the median of all 42, since one timing
of a few passes moved by up to 24% between runs; the table gives the after / before ratio of
the gradient pass's medians as "bare drift"; the observed-ranges passes' rows,
``evals_ranges``, count as forward-only rows; verification's rows, ``evals_verify``, at the
bare ``torch.no_grad`` forward of the network alone (float32, no G: what verification runs)
per row, timed the same way at the rows verification passes at once, min(n,
``verify_batch``)) over wall time x actors. Wall time starts
after Ray is up and includes the actors' start and model loading. Beside it, the bare time
over the actors' CPU time (user + system, all their threads, start-up included, read from
/proc as the sweep stops them): what the actors spent on anything but bare evaluations,
whatever the machine's load (it does not see idle time: waiting for work, the tail). And
where wall time x actors went, actor by actor, with timestamps (:mod:`bench.timeline`):
start, waiting for work, sampling (the sampling thread's CPU, and the rest of that time,
when it waited for a core), idle, the tail; the driver's and the writer threads' CPU.
Command: ``python -m bench.packing --efficiency [names]``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import ray
import torch
from omegaconf import DictConfig

from bench import timeline
from bench.common import bare_pass, observed, quantile_band
from pipeline import zoo
from pipeline.models.speed import apply_speed
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sweep import compose, run

PACKS = (1, 4, 16)
METHODS = ("ess", "fast")  # the default sampler, and the fast one beside it


def problems(preset: zoo.Preset, count: int, n: int) -> list[Problem]:
    """``count`` problems on the digit logits (cycling through them, new seed each round)."""
    out = []
    for i in range(count):
        f = preset.neuron(str(i % 10))
        band = quantile_band(observed(preset.generator, f), 0.75, 0.95)
        out.append(Problem([(f, *band)], n=n, seed=i // 10))
    return out


def packing(count: int = 16, n: int = 100, packs: tuple[int, ...] = PACKS,
            methods: tuple[str, ...] = METHODS) -> list[dict]:
    """Samples per second for each sampler method and packing of the same ``count``
    problems."""
    preset = zoo.load("mnist")
    jobs = problems(preset, count, n)
    rows = []
    for method, pack in itertools.product(methods, packs):
        config = SamplerConfig(k=10, quantize=True, method=method)
        start = time.perf_counter()
        results = []
        for i in range(0, count, pack):
            results += sample_problems(preset.generator, preset.encoder(), jobs[i : i + pack],
                                       config)
        seconds = time.perf_counter() - start
        samples = sum(len(r) for r in results)
        rows.append({
            "setting": f"{method}: {pack} job(s) per batch ({pack * config.k} chains)",
            "jobs": count, "samples": samples, "seconds": seconds, "rate": samples / seconds,
        })
    return rows


def ray_scaling(actors: tuple[int, ...] = (1, 2), units: int = 4, n: int = 50) -> list[dict]:
    """Wall time and samples per second of one small sweep with each actor count."""
    rows = []
    for count in actors:
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            cfg = compose([
                "preset=mnist", f"neurons.select=[{{layer: null, units: {list(range(units))}}}]",
                f"sampler.n={n}", f"cluster.actors={count}", "cluster.num_cpus=1",
                "cluster.jobs_per_batch=2", "cluster.progress_seconds=1000",
                f"output.dir={Path(tmp) / 'out'}", "name=bench-ray",
            ])
            start = time.perf_counter()
            root = run(cfg, progress_stream=io.StringIO())
            seconds = time.perf_counter() - start
            samples = ds.dataset(root / "samples", format="parquet").count_rows()
        rows.append({
            "setting": f"Ray, {count} actor(s) x 1 CPU", "jobs": 2 * units, "samples": samples,
            "seconds": seconds, "rate": samples / seconds,
        })
    return rows


def bare_row_seconds(
    preset: zoo.Preset, rows: int, repeats: int = 15,
    clock: Callable[[], float] = time.perf_counter, channels_last: bool | None = None,
) -> tuple[float, float]:
    """Median seconds per row, at ``rows`` rows, of codes -> G -> network as the sampler runs
    it: a forward under ``torch.no_grad`` (a row evaluated forward only), and a forward with
    autograd plus the backward to the codes (a row with a gradient step); interleaved.
    ``clock``: wall time, or e.g. ``time.thread_time`` (CPU time, with one torch thread).
    G and the network are timed in the layout a CPU actor runs them in: ``channels_last``
    None is the sweep's default (``auto``: channels-last on a CPU), else on or off; the
    preset's modules are changed in place."""
    plain, both = bare_pass_seconds(preset, rows, repeats, clock, channels_last)
    return statistics.median(plain) / rows, statistics.median(both) / rows


def bare_pass_seconds(
    preset: zoo.Preset, rows: int, repeats: int = 15,
    clock: Callable[[], float] = time.perf_counter, channels_last: bool | None = None,
) -> tuple[list[float], list[float]]:
    """Each of ``repeats`` timings of one pass of ``rows`` rows, forward only and forward +
    backward (what :func:`bare_row_seconds` takes the median of)."""
    for module, group in ((preset.generator, "generator"), (preset.network, "network")):
        apply_speed(module, {"channels_last": "auto" if channels_last is None else channels_last},
                    torch.device("cpu"), group)
    plain, both = [], []
    codes = torch.randn(rows, preset.generator.code_dim, generator=torch.Generator().manual_seed(0))
    for _ in range(repeats):
        for backward, into in ((False, plain), (True, both)):
            start = clock()
            bare_pass(preset.generator, preset.network, preset.preprocess, codes, backward)
            into.append(clock() - start)
    return plain, both


def verify_pass_seconds(
    preset: zoo.Preset, rows: int, repeats: int = 15,
    clock: Callable[[], float] = time.perf_counter, channels_last: bool | None = None,
) -> list[float]:
    """Each of ``repeats`` timings of one verification pass of ``rows`` rows: the network
    alone (no G) under ``torch.no_grad`` on inputs G made beforehand, in the layout a CPU
    actor runs it in (``channels_last`` as in :func:`bare_row_seconds`)."""
    apply_speed(preset.network, {"channels_last": "auto" if channels_last is None else
                                 channels_last}, torch.device("cpu"), "network")
    codes = torch.randn(rows, preset.generator.code_dim, generator=torch.Generator().manual_seed(0))
    preprocess = preset.preprocess or (lambda x: x)
    with torch.no_grad():
        inputs = preset.generator(codes)
    out = []
    for _ in range(repeats):
        start = clock()
        with torch.no_grad():
            preset.network(preprocess(inputs))
        out.append(clock() - start)
    return out


def _bare_timings(model: zoo.Preset, rows: int, verify_rows: int) -> tuple[list[float], ...]:
    """:func:`bare_pass_seconds` at ``rows`` and :func:`verify_pass_seconds` at
    ``verify_rows``, 21 passes each, on one torch thread, in CPU time (``time.thread_time``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain, both = bare_pass_seconds(model, rows, repeats=21, clock=time.thread_time)
        return plain, both, verify_pass_seconds(model, verify_rows, 21, time.thread_time)
    finally:
        torch.set_num_threads(threads)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sweep_config(tmp: str, preset: str, options: dict, units: int, n: int, actors: int,
                  batch: int, overrides: tuple, layer: str | None) -> DictConfig:
    """The efficiency sweep's config, its output in ``tmp``."""
    return compose([
        f"preset={preset}", *[f"+network.options.{k}={v}" for k, v in options.items()],
        f"neurons.select=[{{layer: {layer or 'null'}, units: {list(range(units))}}}]",
        f"sampler.n={n}", "sampler.k=10", f"cluster.actors={actors}",
        "cluster.num_cpus=1", f"cluster.jobs_per_batch={batch}",
        "cluster.progress_seconds=1000", f"output.dir={Path(tmp) / 'out'}",
        "name=bench-eff", *overrides,
    ])


def _timed_sweep(cfg: DictConfig, actors: int) -> tuple[list[dict], float, float, dict]:
    """Run the sweep on a local Ray of ``actors`` CPUs (unless one is up): its job records,
    start and end (epoch seconds), the driver's CPU seconds and the timeline's notes."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=actors, include_dashboard=False, logging_level="ERROR")
    try:
        with timeline.recording() as notes:
            begin, driver = time.time(), time.process_time()
            root = run(cfg, progress_stream=io.StringIO())
            end, driver = time.time(), time.process_time() - driver
        jobs = pq.read_table(root / "jobs").to_pylist()
    finally:
        if started:
            ray.shutdown()
    return jobs, begin, end, {"notes": notes, "driver": driver}


def counted_rows(stats: list[dict]) -> dict[str, int]:
    """The rows a sweep's job stats count: ``forward`` (sampling's plus the observed-ranges
    passes', all through G and the network), of which ``backward`` took a gradient,
    ``ranges`` and ``verify`` (the network alone, forward)."""
    def total(key: str) -> int:
        return sum(int(s.get(key) or 0) for s in stats)

    ranges = total("evals_ranges")
    return {"forward": total("evals_forward") + ranges, "backward": total("evals_backward"),
            "ranges": ranges, "verify": total("evals_verify")}


def device_efficiency(
    units: int = 8, n: int = 50, actors: int = 2, batch: int = 4, preset: str = "mnist",
    size: int | None = None, overrides: tuple = (), layer: str | None = None,
) -> dict:
    """Bare evaluation time of a sweep's evaluations over wall time x actors (``size``: the
    network's input side, for presets that take one; ``overrides``: more sweep settings,
    e.g. ``("sampler.method=fast",)``; ``layer``: the units' layer, None: the output layer,
    e.g. ``"fc6"`` for more than mnist's 10 logits)."""
    options = {} if size is None else {"size": size}
    model, rows = zoo.load(preset, **options), batch * 10
    with tempfile.TemporaryDirectory(prefix="bench-eff-") as tmp:
        cfg = _sweep_config(tmp, preset, options, units, n, actors, batch, overrides, layer)
        verify_rows = min(n, int(cfg.sampler.get("verify_batch") or SamplerConfig().verify_batch))
        before = _bare_timings(model, rows, verify_rows)
        jobs, begin, end, ran = _timed_sweep(cfg, actors)
    after = _bare_timings(model, rows, verify_rows)
    t_plain, t_both, t_verify = (statistics.median(b + a) / count for b, a, count in
                                 zip(before, after, (rows, rows, verify_rows), strict=True))
    drift = statistics.median(after[1]) / statistics.median(before[1])
    count = counted_rows([json.loads(j["stats"] or "{}") for j in jobs])
    bare = ((count["forward"] - count["backward"]) * t_plain + count["backward"] * t_both
            + count["verify"] * t_verify)
    wall, spent = end - begin, timeline.summary(ran["notes"], begin, end)
    spent["driver's CPU"] = ran["driver"]
    cpu = spent["actors' processes' CPU"]
    return {"preset": preset + (f" {size} px" if size else "") + (f" {layer}" if layer else ""),
            "jobs": len(jobs), "n": n, "jobs_per_batch": batch,
            "evaluations": f"{count['forward']} / {count['backward']}", "ranges": count["ranges"],
            "verify": count["verify"], "samples": sum(int(j["n_samples"] or 0) for j in jobs),
            "row_seconds": {"forward": t_plain, "backward": t_both, "verify": t_verify},
            "bare": bare, "wall": wall, "actors": actors, "efficiency": bare / (wall * actors),
            "actors_cpu": cpu, "cpu_share": bare / max(cpu, 1e-9), "timeline": spent,
            "bare_drift": drift}


def efficiency_table(rows: list[dict]) -> str:
    """Markdown table of device-efficiency measurements (one row each)."""
    return "\n".join([
        "| preset | jobs | n | jobs per batch | rows forward / backward (ranges' rows) | "
        "verified rows | bare s | "
        "wall s | actors | efficiency | actors' CPU s | bare / actors' CPU | bare drift |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {r['preset']} | {r['jobs']} | {r['n']} | {r['jobs_per_batch']} | "
          f"{r['evaluations']} ({r['ranges']}) | {r.get('verify', 0)} | {r['bare']:.1f} | "
          f"{r['wall']:.1f} | "
          f"{r['actors']} | {r['efficiency']:.2f} | {r['actors_cpu']:.1f} | {r['cpu_share']:.2f} | "
          f"{r.get('bare_drift', float('nan')):.2f} |"
          for r in rows],
    ])


# The sweeps the efficiency target is measured on (2 actors of 1 CPU, K = 10, 4 jobs per
# batch): `mnist` (the output units, or 32 units of its hidden layer fc6 for 64 jobs) and
# `faces` at 64 px, each at the bench's short n and at the overnight sweep's n (500 on
# `mnist`; 100 on `faces`, where n = 500 would take an hour on this machine; its 64-job
# sweep at n = 100 takes 7 minutes).
EFFICIENCY_SWEEPS: dict[str, dict] = {
    "mnist-16": {},
    "mnist-16-n500": {"n": 500},
    "mnist-64": {"units": 32, "layer": "fc6"},
    "mnist-64-n500": {"units": 32, "layer": "fc6", "n": 500},
    "faces-16": {"preset": "faces", "size": 64, "n": 20},
    "faces-16-n100": {"preset": "faces", "size": 64, "n": 100},
    "faces-64": {"preset": "faces", "size": 64, "n": 20, "units": 32},
    "faces-64-n100": {"preset": "faces", "size": 64, "n": 100, "units": 32},
    # 8 jobs per batch, as `cluster=ray` runs them (fuller gradient passes)
    "mnist-64-n500-b8": {"units": 32, "layer": "fc6", "n": 500, "batch": 8},
    "faces-64-b8": {"preset": "faces", "size": 64, "n": 20, "units": 32, "batch": 8},
}


def device_efficiencies(names: tuple[str, ...] = tuple(EFFICIENCY_SWEEPS)) -> list[dict]:
    """The efficiency target's sweeps (:data:`EFFICIENCY_SWEEPS`, by name), one after the
    other."""
    return [device_efficiency(**EFFICIENCY_SWEEPS[name]) for name in names]


def efficiency_report(rows: list[dict]) -> str:
    """The efficiency table, then where each sweep's wall time x actors went."""
    return efficiency_table(rows) + "\n\n" + timeline.timeline_table(rows)


def table(rows: list[dict]) -> str:
    """Markdown table; speed-ups relative to the first row of each kind (each sampler
    method's packings, the Ray rows)."""
    lines = ["| setting | jobs | samples | s | samples/s | speed-up |", "|---|---|---|---|---|---|"]
    base: dict[str, float] = {}
    for r in rows:
        kind = r["setting"].split(",")[0] if r["setting"].startswith("Ray") else \
            r["setting"].split(":")[0]
        base.setdefault(kind, r["rate"])
        lines.append(
            f"| {r['setting']} | {r['jobs']} | {r['samples']} | {r['seconds']:.1f} | "
            f"{r['rate']:.1f} | {r['rate'] / base[kind]:.2f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--efficiency", nargs="*", choices=list(EFFICIENCY_SWEEPS),
                        help="only the device efficiency of these sweeps (none named: all)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.efficiency is None:
        print(table(packing() + ray_scaling()))
    print(efficiency_report(device_efficiencies(tuple(args.efficiency or EFFICIENCY_SWEEPS))))
