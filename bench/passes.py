"""The model compute of a sweep: CPU time per row of G and the network, and per row evaluated.

Two measurements, both in CPU time of the thread that spends it (``time.thread_time``, one
torch thread), so that the other processes of a shared machine do not count; the settings
compared run interleaved (one repeat of each in turn), and the tables give ratios to the
first setting.

- :func:`row_costs`: milliseconds per row of codes -> G -> network read out as the sampler
  reads it (one hooked pass for a neuron of the output layer and E), at a given number of
  rows, forward only under ``torch.no_grad`` (an exploring row) and forward + backward to
  the codes (a seeding row), for each device speed setting of G and the network
  (:func:`pipeline.models.speed.speed_up`): ``plain`` (contiguous weights),
  ``channels_last``, ``compile`` and ``channels_last+compile`` (``torch.compile`` with
  dynamic shapes; its compilation, timed apart in wall and CPU seconds of this process,
  is paid once per actor).
- :func:`sweep_rows`: the device-efficiency sweep's jobs (:func:`bench.packing.device_efficiency`)
  through one in-process :class:`pipeline.runner.Worker`, as an actor's sampling thread runs
  them, for each setting (jobs per batch, channels-last on or off): the sampling thread's CPU
  seconds, the rows evaluated (forward / of which with a gradient), the passes, and CPU
  milliseconds per row evaluated; beside it the bare time of those rows at the batch's full
  size with the same model settings, over the thread's CPU (the share the thread spends on
  bare evaluations).

``python -m bench.passes [--preset mnist|faces] [--size 64] [--rows 5,10,40,80]``
prints both tables (``--no-sweep``: only the first).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

import pipeline.runner.actor as actor_module
import pipeline.sampler.batch as batch_module
from pipeline import zoo
from pipeline.models.readout import Readout
from pipeline.models.speed import speed_up
from pipeline.runner import Worker
from pipeline.sweep import compose, expand, to_plain
from pipeline.sweep.expand import model_settings

VARIANTS = ("plain", "channels_last")


def _model(preset: str, size: int | None, variant: str) -> tuple[zoo.Preset, Readout, float, float]:
    """A fresh preset with ``variant``'s speed settings on G and the network, its readout (a
    neuron of the output layer and E, one hooked pass), and the wall and CPU seconds of
    compiling it (a first forward + backward at 3 sizes; 0 without compile)."""
    p = zoo.load(preset, **({} if size is None else {"size": size}))
    for module in (p.generator, p.network):
        speed_up(module, channels_last="channels_last" in variant, compile="compile" in variant)
    readout = Readout([p.neuron(0)], p.encoder())
    wall, cpu = time.perf_counter(), time.process_time()
    if "compile" in variant:
        for rows in (5, 13, 40):
            _both(p, readout, torch.rand(rows, p.generator.code_dim))
    return p, readout, time.perf_counter() - wall, time.process_time() - cpu


def _forward(p: zoo.Preset, readout: Readout, codes: torch.Tensor) -> None:
    with torch.no_grad():
        readout(p.generator(codes))


def _both(p: zoo.Preset, readout: Readout, codes: torch.Tensor) -> None:
    leaf = codes.clone().requires_grad_(True)
    acts, feats = readout(p.generator(leaf))
    torch.autograd.grad(acts.sum() + 0 * feats.sum(), leaf)


def row_costs(
    preset: str = "mnist", size: int | None = None, rows: tuple[int, ...] = (5, 10, 40, 80),
    variants: tuple[str, ...] = VARIANTS, repeats: int = 15,
) -> list[dict]:
    """CPU milliseconds per row, forward only and forward + backward, for each variant at
    each row count (median of ``repeats``, the variants interleaved), one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = {v: _model(preset, size, v) for v in variants}
        out = []
        for count in rows:
            codes = torch.rand(count, models[variants[0]][0].generator.code_dim,
                               generator=torch.Generator().manual_seed(count))
            times: dict[str, tuple[list, list]] = {v: ([], []) for v in variants}
            for _ in range(repeats):
                for v in variants:
                    p, readout = models[v][:2]
                    for step, store in ((_forward, times[v][0]), (_both, times[v][1])):
                        start = time.thread_time()
                        step(p, readout, codes)
                        store.append(time.thread_time() - start)
            out += [{"preset": preset + (f" {size} px" if size else ""), "rows": count,
                     "variant": v, "forward_ms": 1e3 * statistics.median(times[v][0]) / count,
                     "both_ms": 1e3 * statistics.median(times[v][1]) / count,
                     "compile_wall": models[v][2], "compile_cpu": models[v][3]}
                    for v in variants]
    finally:
        torch.set_num_threads(threads)
    return out


def row_table(rows: list[dict]) -> str:
    """Markdown table of :func:`row_costs` (ratios to the first variant at each row count)."""
    base: dict[int, dict] = {}
    lines = ["| preset | rows | setting | forward ms/row | ratio | forward + backward ms/row | "
             "ratio | compilation wall s / CPU s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        first = base.setdefault(r["rows"], r)
        lines.append(
            f"| {r['preset']} | {r['rows']} | {r['variant']} | {r['forward_ms']:.2f} | "
            f"{r['forward_ms'] / first['forward_ms']:.2f} | {r['both_ms']:.2f} | "
            f"{r['both_ms'] / first['both_ms']:.2f} | "
            + (f"{r['compile_wall']:.1f} / {r['compile_cpu']:.1f} |" if "compile" in r["variant"]
               else "|"))
    return "\n".join(lines)


@contextmanager
def counted() -> Iterator[dict[str, float]]:
    """While the block runs: the CPU seconds of the worker's sampling thread (``_drain``),
    and the forward-only and gradient passes with their rows (``pipeline.sampler.batch``)."""
    tally: dict[str, float] = dict.fromkeys(
        ("cpu", "plain_passes", "plain_rows", "grad_passes", "grad_rows"), 0.0)
    drain, plain, backward = (actor_module.Worker._drain, batch_module._plain,
                              batch_module._backward)

    @functools.wraps(drain)
    def timed(*args: Any) -> Any:
        start = time.thread_time()
        try:
            return drain(*args)
        finally:
            tally["cpu"] += time.thread_time() - start

    def counting(func: Callable, kind: str, rows: Callable[..., int]) -> Callable:
        @functools.wraps(func)
        def call(*args: Any) -> Any:
            tally[f"{kind}_passes"] += 1
            tally[f"{kind}_rows"] += rows(*args)
            return func(*args)
        return call

    actor_module.Worker._drain = timed
    batch_module._plain = counting(plain, "plain", lambda g, r, codes, q: int(codes.shape[0]))
    batch_module._backward = counting(  # its 7th argument: (plain rows, gradient rows)
        backward, "grad", lambda *a: int(len(a[6][1])))
    try:
        yield tally
    finally:
        actor_module.Worker._drain, batch_module._plain, batch_module._backward = (
            drain, plain, backward)


def _sweep_once(cfg: Any, batch: int, tmp: Path) -> dict[str, Any]:
    """One run of ``cfg``'s jobs through an in-process worker, counted."""
    jobs, model = expand(cfg), model_settings(to_plain(cfg))
    worker = Worker(model, root=str(tmp), jobs_per_batch=batch)
    with counted() as tally:
        worker.submit(jobs)
        outcomes: list = []
        while len(outcomes) < len(jobs):
            outcomes += worker.collect(1.0)
    tally["forward"] = sum(int(o.stats.get("evals_forward") or 0) for o in outcomes)
    tally["backward"] = sum(int(o.stats.get("evals_backward") or 0) for o in outcomes)
    tally["jobs"] = len(jobs)
    return tally


def sweep_rows(
    preset: str = "mnist", size: int | None = None, units: int = 8, n: int = 50,
    settings: tuple[tuple[int, bool], ...] = ((4, False), (4, True), (8, True)),
    rounds: int = 1, layer: str | None = None,
) -> list[dict]:
    """Each setting ``(jobs per batch, channels-last)`` of the device-efficiency sweep on one
    in-process worker, ``rounds`` times in turn; one row per run."""
    from bench.packing import bare_row_seconds

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    options = [] if size is None else [f"+network.options.size={size}"]
    out = []
    try:
        for _ in range(rounds):
            for batch, last in settings:
                with tempfile.TemporaryDirectory(prefix="bench-passes-") as tmp:
                    cfg = compose([
                        f"preset={preset}", *options,
                        f"neurons.select=[{{layer: {layer or 'null'}, units: "
                        f"{list(range(units))}}}]", f"sampler.n={n}", "sampler.k=10",
                        f"network.channels_last={str(last).lower()}",
                        f"generator.channels_last={str(last).lower()}",
                        f"output.dir={Path(tmp) / 'out'}", "name=bench-passes"])
                    tally = _sweep_once(cfg, batch, Path(tmp) / "out")
                bare = bare_row_seconds(
                    zoo.load(preset, **({} if size is None else {"size": size})), batch * 10,
                    clock=time.thread_time, channels_last=last)
                rows = tally["forward"]
                seconds = (rows - tally["backward"]) * bare[0] + tally["backward"] * bare[1]
                out.append({**tally, "preset": preset + (f" {size} px" if size else ""),
                            "batch": batch, "channels_last": last, "bare": seconds,
                            "ms_per_row": 1e3 * tally["cpu"] / max(rows, 1)})
    finally:
        torch.set_num_threads(threads)
    return out


def sweep_table(rows: list[dict]) -> str:
    """Markdown table of :func:`sweep_rows` (ratios of CPU per row to the first run)."""
    first = rows[0]["ms_per_row"] if rows else 1.0
    lines = ["| preset | jobs | jobs per batch | channels-last | rows forward / backward | "
             "passes forward / gradient (rows per gradient pass) | sampling thread CPU s | "
             "CPU ms per row evaluated | ratio | bare s | bare / thread CPU |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per_grad = r["grad_rows"] / max(r["grad_passes"], 1)
        lines.append(
            f"| {r['preset']} | {r['jobs']} | {r['batch']} | "
            f"{'on' if r['channels_last'] else 'off'} | {r['forward']} / {r['backward']} | "
            f"{r['plain_passes']:.0f} / "
            f"{r['grad_passes']:.0f} ({per_grad:.1f}) | {r['cpu']:.1f} | {r['ms_per_row']:.2f} | "
            f"{r['ms_per_row'] / first:.2f} | {r['bare']:.1f} | {r['bare'] / r['cpu']:.2f} |")
    return "\n".join(lines)


def markdown() -> str:
    """The ``make bench`` section: per-row costs of both layouts on `mnist` and `faces` at
    64 px, and the 16-job `mnist` sweep with each layout and 4 or 8 jobs per batch
    (``compile`` is left out: its compilation alone takes minutes here)."""
    return "\n\n".join([
        row_table(row_costs("mnist") + row_costs("faces", 64, (5, 10, 40), repeats=5)),
        sweep_table(sweep_rows("mnist")),
    ])


def main(argv: list[str] | None = None) -> None:
    """Print the per-row table and (unless ``--no-sweep``) the per-sweep table."""
    parser = argparse.ArgumentParser(prog="python -m bench.passes")
    parser.add_argument("--preset", default="mnist")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--rows", default="5,10,40,80")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    rows = tuple(int(r) for r in args.rows.split(","))
    print(row_table(row_costs(args.preset, args.size, rows, tuple(args.variants.split(",")),
                              args.repeats)))
    if not args.no_sweep:
        print(sweep_table(sweep_rows(args.preset, args.size, args.units, args.n,
                                     rounds=args.rounds)))


if __name__ == "__main__":
    main()
