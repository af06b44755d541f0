"""Throughput on one GPU and the projected time of the overnight sweep (``bench/gpu.sh``).

Sections, each on the `imagenet` preset (the overnight sweep's: Fourier G -> MobileNetV2 at
``--size`` px) and then `faces`, within one time budget (``--seconds``; a section that
does not fit is left out and says so):

1. Bare passes (``bench/gpu_measure.py``) at 256 to 4096 rows: forward + backward plain,
   under bf16 autocast, with channels-last weights, both; the float32 forward alone (the
   cost of verification). Rows/s here is the device's ceiling for the sampler.
2. Windows of the sampler at 160 to 5120 chains (K = 10, the overnight's jobs: unit
   ``j // 6``, band ``j % 6`` of the ladder 0-5 ... 25-30 logits, n = 500; `faces`: the
   75-95% quantile band of each unit's logits over 256 random codes), continuous batching
   (``iter_problems(slots=...)``, as an actor runs jobs): samples/s, steps/s, the share of
   the wall in the batch passes, device utilisation; then the best packing again with
   each of ``--variants`` (``bf16-seeds``: ``precision=bf16-seeds``; ``channels_last``:
   channels-last weights). Before the windows of a layout or precision, the row counts the
   sampler uses are planned once (a "warm-up" row: cuDNN's first pass at a new shape).
3. ``--parallel P``: P sampler processes of the best packing / P chains each on one device
   (``bench/gpu_parallel.py``), their rates summed.
4. ``torch.compile`` of the network (compilation time and bare speed-up), if time is left.

The projection: 1000 neurons x 6 bands x 500 samples = 3,000,000 samples at the best
window's second-half rate (the first half holds every job's seed phase at once), against
the mission's 15 minutes. Every row is appended to ``gpu.jsonl`` and the markdown
(``GPU.md``) is rewritten after each, in ``$OUT`` if set (else ``bench/``), so a run cut
short keeps what it measured. ``--cpu-smoke`` runs the same code on the CPU at toy sizes
(a test checks it; no compile there: its compilation alone takes minutes on a CPU).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from bench import gpu_measure as gm
from bench.gpu_parallel import Jobs, parallel
from bench.gpu_report import report
from pipeline import zoo
from pipeline.errors import ConfigError
from pipeline.models.rows import CHUNK
from pipeline.sampler import Problem, SamplerConfig

K = 10
SWEEP_SAMPLES = 1000 * 6 * 500
LADDER = [(5.0 * b, 5.0 * b + 5.0) for b in range(6)]


@dataclass
class Plan:
    """Sizes of one benchmark run."""

    device: torch.device
    size: int
    rows: tuple[int, ...]
    chains: tuple[int, ...]
    n: int
    window: float
    deadline: float
    compile: bool
    bare: bool = True
    variants: tuple[str, ...] = ("bf16-seeds", "channels_last")
    parallel: int = 0
    warm_rows: int = CHUNK


def plan(args: argparse.Namespace) -> Plan:
    """The GPU plan, or the CPU smoke test's toy sizes."""
    deadline = time.monotonic() + args.seconds
    chains = tuple(int(c) for c in args.chains.split(",")) if args.chains else None
    options = {"bare": not args.no_bare, "parallel": args.parallel,
               "variants": tuple(v for v in args.variants.split(",") if v)}
    unknown = set(options["variants"]) - {"bf16-seeds", "channels_last"}
    if unknown:
        raise ConfigError(f"unknown --variants {sorted(unknown)}; use bf16-seeds, channels_last")
    if args.cpu_smoke:
        return Plan(torch.device("cpu"), 64, (4, 8), chains or (10, 20), 20, args.window or 3.0,
                    deadline, False, warm_rows=16, **options)
    if not torch.cuda.is_available():
        raise ConfigError("no CUDA device visible to torch; run on a GPU machine or --cpu-smoke")
    return Plan(torch.device("cuda"), args.size, (256, 1024, 4096),
                chains or (160, 640, 2560, 5120), 500, args.window or 20.0, deadline,
                not args.no_compile, **options)


def overnight_jobs(preset: zoo.Preset, n: int, first: int = 0) -> Iterator[Problem]:
    """The overnight sweep's jobs in its order from job ``first``: unit ``j // 6`` in band
    ``j % 6``."""
    for j in itertools.count(first):
        lo, hi = LADDER[j % 6]
        yield Problem([(preset.neuron((j // 6) % 1000), lo, hi)], n=n, seed=j)


@torch.no_grad()
def quantile_bands(
    preset: zoo.Preset, units: int, device: torch.device
) -> list[tuple[float, float]]:
    """The 75-95% quantiles of the first ``units`` logits over 256 codes from G's prior."""
    codes = gm.prior_codes(preset, 256, device)
    outs = [preset.network(preset.preprocess(preset.generator(c))) for c in codes.split(64)]
    q = torch.quantile(torch.cat(outs)[:, :units].float().cpu(), torch.tensor([0.75, 0.95]),
                       dim=0)
    return [(float(q[0, u]), float(q[1, u])) for u in range(units)]


def quantile_jobs(preset: zoo.Preset, n: int, first: int = 0) -> Iterator[Problem]:
    """One job per unit (the first 100, cycled from job ``first``), each in its quantile
    band (computed here, before the first job is pulled)."""
    bands = quantile_bands(preset, 100, next(preset.network.parameters()).device)

    def jobs() -> Iterator[Problem]:
        for j in itertools.count(first):
            u = j % len(bands)
            yield Problem([(preset.neuron(u), *bands[u])], n=n, seed=j)

    return jobs()


class Recorder:
    """Keeps the rows, appends each to ``gpu.jsonl`` and rewrites the markdown."""

    def __init__(self, out: Path, p: Plan) -> None:
        self.out, self.plan, self.rows = out, p, []
        out.parent.mkdir(parents=True, exist_ok=True)
        self.jsonl = out.with_name("gpu.jsonl")
        self.jsonl.write_text("")

    def add(self, row: dict[str, Any]) -> None:
        """Record one row and rewrite the outputs."""
        self.rows.append(row)
        with self.jsonl.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self.out.write_text(report(self.rows, self.plan.size, SWEEP_SAMPLES) + "\n")
        print(json.dumps(row), flush=True)

    def left(self) -> float:
        """Seconds left of the budget."""
        return self.plan.deadline - time.monotonic()

    def skip(self, what: str) -> None:
        """Record that a section did not fit."""
        self.add({"kind": "skipped", "what": what})


def _warm(rec: Recorder, preset: zoo.Preset, p: Plan, variant: str) -> None:
    """Plan the sampler's row counts for a layout or precision (a "warm" row)."""
    seconds = gm.warm(preset, p.device, bf16=variant == "bf16-seeds", most=p.warm_rows)
    rec.add({"kind": "warm", "preset": preset.name, "variant": variant, "seconds": seconds})


def run_windows(rec: Recorder, preset: zoo.Preset, jobs: Jobs, p: Plan) -> int | None:
    """The packing scan, then the best packing with each variant; the best packing."""
    config = SamplerConfig(k=K, quantize=True)
    _warm(rec, preset, p, "float32")
    scan = []
    for chains in p.chains:
        if rec.left() < p.window:
            rec.skip(f"{preset.name} window at {chains} chains")
            continue
        scan.append(gm.window(preset, jobs(preset, p.n), chains, config, p.window, p.device))
        rec.add(scan[-1])
    good = [r for r in scan if not r["error"]]
    if not good:
        return None
    best = max(good, key=lambda r: r["evals_per_s"])["chains"]
    for label in p.variants:
        if rec.left() < 2 * p.window:
            rec.skip(f"{preset.name} window at {best} chains, {label}")
            continue
        cfg = replace(config, precision="bf16-seeds") if label == "bf16-seeds" else config
        gm.set_layout(preset, label == "channels_last")
        _warm(rec, preset, p, label)
        row = gm.window(preset, jobs(preset, p.n), best, cfg, p.window, p.device)
        gm.set_layout(preset, False)
        rec.add({**row, "variant": label})
    return best


def run_preset(rec: Recorder, name: str, p: Plan) -> None:
    """Every section for one preset."""
    preset = zoo.load(name, device=p.device, size=p.size)
    for rows in p.rows if p.bare else ():
        if rec.left() < 10:
            rec.skip(f"{name} bare passes at {rows} rows")
            continue
        for row in gm.bare_rows(preset, rows, p.device):
            rec.add(row)
    jobs = overnight_jobs if name == "imagenet" else quantile_jobs
    best = run_windows(rec, preset, jobs, p)
    if p.parallel and best:
        if rec.left() < 3 * p.window:
            rec.skip(f"{name}: {p.parallel} processes")
        else:
            each = max(K, best // p.parallel // K * K)
            rec.add(parallel(name, p.size, p.device, jobs, p.n, p.parallel, each, p.window,
                             p.warm_rows))
    if p.compile and name == "imagenet":
        if rec.left() < 90:
            rec.skip("torch.compile probe")
        else:
            rec.add(gm.compile_probe(preset, 1024, p.device))


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="toy sizes on the CPU")
    parser.add_argument("--size", type=int, default=128, help="network input side (GPU runs)")
    parser.add_argument("--seconds", type=float, default=240.0, help="time for all sections")
    parser.add_argument("--window", type=float, default=None, help="seconds per sampler window")
    parser.add_argument("--presets", default="imagenet,faces")
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    parser.add_argument("--no-bare", action="store_true", help="leave out the bare passes")
    parser.add_argument("--chains", default=None, help="packings to scan, e.g. 640,2560")
    parser.add_argument("--variants", default="bf16-seeds,channels_last",
                        help="variants run at the best packing (comma-separated, may be empty)")
    parser.add_argument("--parallel", type=int, default=0,
                        help="processes sharing the device at the best packing (0: none)")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write")
    args = parser.parse_args(argv)
    try:
        p = plan(args)
    except ConfigError as err:
        sys.exit(f"ConfigError: {err}")
    out = args.out or Path(os.environ.get("OUT") or Path(__file__).parent) / "GPU.md"
    rec = Recorder(out, p)
    rec.add({"kind": "env", "device": torch.cuda.get_device_name(0) if p.device.type == "cuda"
             else "CPU (smoke test)", "torch": torch.__version__, "size": p.size})
    for name in args.presets.split(","):
        try:
            run_preset(rec, name, p)
        except Exception as err:  # noqa: BLE001 - keep the other presets' rows
            rec.add({"kind": "error", "preset": name, "error": f"{type(err).__name__}: {err}"})
            traceback.print_exc()
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
