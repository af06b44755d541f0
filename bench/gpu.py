"""Throughput on one GPU and the time of a full sweep: run through ``bench/gpu.sh``.

For the `faces` and `imagenet` presets, jobs (one output neuron each, n samples, K = 10,
quantised; band: see :func:`bands`) are packed
into one batch with K x jobs = 64 .. 1024 chains; each packing runs until its jobs end
or its share of the time is spent. It reports iterations (steps) per second, chain-steps
per second and samples per second, then runs the best packing with n = 500 and
extrapolates a 1000-neuron x 6-band x 500-sample sweep on one GPU. Device utilisation is
the mean of ``nvidia-smi``'s utilization.gpu sampled every 0.2 s during each run. A second
table times the bare forward + backward (codes -> G -> network -> gradient to the codes) at
the best packing's rows with each device speed option: plain, ``network.channels_last``,
``network.compile`` and bf16 autocast (the seed phase's part of it is
``sampler.precision=bf16-seeds``; ``bench/precision.py`` times that); an option is worth
turning on where it beats plain. ``--cpu-smoke`` runs the same code on the CPU at toy
sizes (a test checks it; ``compile`` is left out there, its compilation alone takes
minutes on a CPU). Weight files missing from the cache are fetched
first (see bench/gpu.sh).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline import zoo
from pipeline.errors import ConfigError
from pipeline.runner.models import speed_up
from pipeline.sampler import Problem, SamplerConfig, iter_problems

K = 10
SWEEP_JOBS, SWEEP_N = 1000 * 6, 500


class _OutOfTimeError(Exception):
    """Raised from the progress callback to end a run that used its time."""


class Utilisation:
    """Mean GPU utilisation (%) from ``nvidia-smi`` sampled every 0.2 s in a thread while
    the ``with`` block runs; ``None`` on the CPU or without ``nvidia-smi``."""

    def __init__(self, device: str) -> None:
        self.active, self.samples = device == "cuda", []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        command = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                   "--id=0"]
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.split()[0]))
            except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                return

    @property
    def mean(self) -> float | None:
        """The mean of the samples taken (None if none)."""
        return statistics.fmean(self.samples) if self.samples else None

    def __enter__(self) -> Utilisation:
        if self.active:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.active:
            self._thread.join(timeout=10)


@dataclass
class Plan:
    """Sizes of one benchmark run."""

    device: str
    size: int
    chains: tuple[int, ...]
    n: int
    final_n: int
    seconds: float


def plan(args: argparse.Namespace) -> Plan:
    """The full GPU plan, or the CPU smoke test's toy sizes."""
    if args.cpu_smoke:
        return Plan("cpu", 64, (10, 20), 12, 20, args.seconds or 60.0)
    if not torch.cuda.is_available():
        raise ConfigError("no CUDA device visible to torch; run on a GPU machine or --cpu-smoke")
    return Plan("cuda", args.size, (64, 128, 256, 512, 1024), 100, SWEEP_N, args.seconds or 300.0)


@torch.no_grad()
def bands(preset: zoo.Preset, units: int, device: str) -> list[tuple[float, float]]:
    """Bands of the first ``units`` logits from 256 random codes: the 75-95% quantiles, or
    for `imagenet` (whose random images all give about the same logits) median + [1, 3]."""
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(256, preset.generator.code_dim, generator=gen) * getattr(
        preset.generator, "init_std", 1.0
    )
    if getattr(preset.generator, "code_bounds", None):
        codes = codes.clamp(*preset.generator.code_bounds)
    outs = [preset.network(preset.preprocess(preset.generator(c.to(device))))
            for c in codes.split(64)]
    logits = torch.cat(outs)[:, :units].float().cpu()
    if preset.name == "imagenet":  # random Fourier images: every logit within ~0.02
        median = logits.median(dim=0).values
        return [(float(median[u]) + 1, float(median[u]) + 3) for u in range(units)]
    q = torch.quantile(logits, torch.tensor([0.75, 0.95]), dim=0)
    return [(float(q[0, u]), float(q[1, u])) for u in range(units)]


def measure(
    preset: zoo.Preset,
    problem_bands: list[tuple[float, float]],
    chains: int,
    n: int,
    seconds: float,
    device: str,
) -> dict:
    """Run chains // K jobs (unit u in ``problem_bands[u]``) packed in one batch for at most
    ``seconds``; return the rates."""
    jobs = max(1, chains // K)
    problems = [
        Problem([(preset.neuron(u), *problem_bands[u])], n=n, seed=u) for u in range(jobs)
    ]
    config = SamplerConfig(k=K, quantize=True)
    marks: list[tuple[float, int]] = []
    start = time.perf_counter()

    def progress(done: int, _wanted: int) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        marks.append((time.perf_counter() - start, done))
        if marks[-1][0] > seconds:
            raise _OutOfTimeError

    finished, error = 0, None
    with Utilisation(device) as busy:
        try:
            for _ in iter_problems(preset.generator, preset.encoder(), problems, config,
                                   progress=progress):
                finished += 1
        except _OutOfTimeError:
            pass
        except torch.OutOfMemoryError:
            error = "out of memory"
            torch.cuda.empty_cache()
    wall, samples = marks[-1] if marks else (time.perf_counter() - start, 0)
    iterations = len(marks)
    return {
        "chains": jobs * K, "jobs": jobs, "n": n, "finished": finished, "error": error,
        "iterations": iterations, "seconds": wall, "steps_per_s": iterations / wall,
        "chain_steps_per_s": iterations * jobs * K / wall, "samples": samples,
        "samples_per_s": samples / wall, "utilisation": busy.mean,
    }


OPTIONS = ("plain", "channels_last", "compile", "bf16 autocast")


def bare_step(preset: zoo.Preset, network: torch.nn.Module, rows: int, device: str,
              bf16: bool = False, repeats: int = 10) -> float:
    """Median seconds of codes -> G -> preprocess -> ``network`` -> gradient to the codes."""
    codes = torch.randn(rows, preset.generator.code_dim, device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext()
    times = []
    for _ in range(repeats + 2):  # the first two: warm-up (kernels, compilation)
        x = codes.clone().requires_grad_(True)
        start = time.perf_counter()
        with autocast:
            out = network((preset.preprocess or (lambda v: v))(preset.generator(x)))
        torch.autograd.grad(out[:, 0].float().sum(), x)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def speed_options(preset: zoo.Preset, rows: int, p: Plan) -> list[dict]:
    """The bare step at ``rows`` rows with each device speed option, and its speed-up."""
    out = []
    for option in OPTIONS:
        if option == "compile" and p.device == "cpu":
            continue
        network = copy.deepcopy(preset.network)
        speed_up(network, channels_last=option == "channels_last", compile=option == "compile")
        seconds = bare_step(preset, network, rows, p.device, bf16=option == "bf16 autocast")
        out.append({"option": option, "rows": rows, "seconds": seconds,
                    "speed_up": out[0]["seconds"] / seconds if out else 1.0})
    return out


def run_preset(name: str, p: Plan, seconds: float) -> tuple[list[dict], dict, list[dict]]:
    """The packing scan, the final n = 500 run and the speed options of one preset."""
    preset = zoo.load(name, device=p.device, size=p.size)
    problem_bands = bands(preset, max(p.chains) // K, p.device)
    measure(preset, problem_bands, K, K, seconds / 20, p.device)  # warm-up: kernels, allocator
    share = 0.6 * seconds / len(p.chains)
    scan = [measure(preset, problem_bands, c, p.n, share, p.device) for c in p.chains]
    best = max(scan, key=lambda r: -1.0 if r["error"] else r["samples_per_s"])
    final = measure(preset, problem_bands, best["chains"], p.final_n, 0.35 * seconds, p.device)
    return scan, final, speed_options(preset, best["chains"], p)


def extrapolate(final: dict) -> str:
    """Hours for SWEEP_JOBS jobs of SWEEP_N samples on one GPU at the final run's rate."""
    if final["finished"] == final["jobs"]:
        per_job = final["seconds"] / final["jobs"] * SWEEP_N / final["n"]
        how = "complete run: seconds per job, scaled to n = 500 when n differs"
    else:
        per_job = SWEEP_N / max(final["samples_per_s"], 1e-9)
        how = "run cut at its time limit: its samples/s (seed phase included, so pessimistic)"
    hours = SWEEP_JOBS * per_job / 3600
    return f"{hours:.1f} h per GPU for 1000 neurons x 6 bands x 500 samples ({how})"


def _row(r: dict) -> str:
    """One row of the packing table."""
    if r["error"]:
        return f"| {r['chains']} | {r['n']} | {r['error']} | | | | | | |"
    busy = "-" if r["utilisation"] is None else f"{r['utilisation']:.0f}%"
    return (
        f"| {r['chains']} | {r['n']} | {r['finished']}/{r['jobs']} | {r['iterations']} "
        f"| {r['seconds']:.1f} | {r['steps_per_s']:.2f} | {r['chain_steps_per_s']:.0f} "
        f"| {r['samples_per_s']:.1f} | {busy} |"
    )


def report(results: dict[str, tuple[list[dict], dict, list[dict]]], p: Plan) -> str:
    """Markdown tables and the extrapolations."""
    device = torch.cuda.get_device_name(0) if p.device == "cuda" else "CPU (smoke test)"
    lines = [f"# GPU throughput ({device}, {p.size} px, torch {torch.__version__})", ""]
    for name, (scan, final, options) in results.items():
        lines += [
            f"## `{name}`", "",
            "| chains (K x jobs) | n | jobs done | steps | s | steps/s | chain-steps/s | "
            "samples/s | device busy |",
            "|---|---|---|---|---|---|---|---|---|",
            *[_row(r) for r in [*scan, final]],
            "", f"Best packing: {final['chains']} chains. Sweep: {extrapolate(final)}.", "",
            f"Device speed options, bare forward + backward at {final['chains']} rows:", "",
            "| option | s per step | speed-up |", "|---|---|---|",
            *[f"| {o['option']} | {o['seconds']:.4f} | {o['speed_up']:.2f} |" for o in options],
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="toy sizes on the CPU")
    parser.add_argument("--size", type=int, default=224, help="network input side (GPU runs)")
    parser.add_argument("--seconds", type=float, default=None, help="time for all measurements")
    parser.add_argument("--presets", default="faces,imagenet")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write")
    args = parser.parse_args(argv)
    names = args.presets.split(",")
    try:
        p = plan(args)
        results = {name: run_preset(name, p, p.seconds / len(names)) for name in names}
    except ConfigError as err:
        sys.exit(f"ConfigError: {err}")
    text = report(results, p)
    print(text)
    out = args.out or Path(os.environ.get("OUT") or Path(__file__).parent) / "GPU.md"
    out.write_text(text + "\n")
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
