"""The timed pieces of ``bench/gpu.py``: bare passes and windows of the sampler.

A *bare pass* is codes -> G -> preprocess -> network -> (gradient to the codes), timed as
the median of several repeats after two warm-ups, with the device synchronised; the
variants are the device speed options (channels-last weights, bf16 autocast, both) and
the forward alone in float32 (the cost of verification). A *window* runs the sampler
(``iter_problems``) with ``slots`` chains kept busy by a stream of jobs (continuous
batching, as an actor runs them) for a fixed time and reads its rate: samples kept per
second over the whole window and over its second half (closer to the steady state), the
share of the wall spent in the batch evaluation (G, f and E passes, synchronised) and the
mean device utilisation from ``nvidia-smi``.
"""

from __future__ import annotations

import copy
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

import pipeline.sampler.engine as engine
from bench import common
from pipeline import zoo
from pipeline.models.rows import CHUNK, MIN_ROWS
from pipeline.models.speed import speed_up
from pipeline.sampler import Problem, SamplerConfig, iter_problems


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Utilisation:
    """Mean GPU utilisation (%) from ``nvidia-smi`` sampled every 0.2 s in a thread while
    the ``with`` block runs; ``None`` on the CPU or without ``nvidia-smi``."""

    def __init__(self, device: torch.device) -> None:
        self.active, self.samples = device.type == "cuda", []
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


def set_layout(preset: zoo.Preset, channels_last: bool) -> None:
    """G's and the network's 4-d weights channels-last (True) or contiguous (False)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for module in (preset.generator, preset.network):
        if isinstance(module, nn.Module):
            module.to(memory_format=fmt)


def prior_codes(preset: zoo.Preset, rows: int, device: torch.device) -> torch.Tensor:
    """``rows`` codes drawn from G's prior on ``device``."""
    prior = preset.generator.prior
    z = torch.randn(rows, preset.generator.code_dim, device=device)
    return prior.from_normal(z) if not prior.gaussian else z * prior.scale


def pass_seconds(preset: zoo.Preset, rows: int, device: torch.device, *, backward: bool = True,
              bf16: bool = False, repeats: int = 8, network: Callable | None = None) -> float:
    """Median seconds of one pass over ``rows`` codes (forward + gradient to the codes, or
    the forward alone under ``no_grad``), after two warm-ups."""
    codes = prior_codes(preset, rows, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    times = []
    for _ in range(repeats + 2):  # repeats=-1: one call, to plan the shapes
        sync(device)
        start = time.perf_counter()
        with autocast:
            common.bare_pass(preset.generator, network or preset.network, preset.preprocess,
                             codes, backward)
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:]) if repeats > 0 else times[-1]


VARIANTS = (  # name, channels_last, bf16, backward
    ("plain", False, False, True),
    ("bf16 autocast", False, True, True),
    ("channels_last", True, False, True),
    ("channels_last + bf16", True, True, True),
    ("forward only (verification)", False, False, False),
)


def bare_rows(preset: zoo.Preset, rows: int, device: torch.device) -> list[dict[str, Any]]:
    """Every variant of :data:`VARIANTS` at ``rows`` rows (a variant that runs out of
    memory gets ``error``); the layout is left contiguous."""
    out = []
    for name, channels_last, bf16, backward in VARIANTS:
        set_layout(preset, channels_last)
        try:
            seconds, error = pass_seconds(preset, rows, device, backward=backward, bf16=bf16), None
        except torch.OutOfMemoryError:
            seconds, error = None, "out of memory"
            torch.cuda.empty_cache()
        out.append({"kind": "bare", "preset": preset.name, "rows": rows, "variant": name,
                    "seconds": seconds, "rows_per_s": rows / seconds if seconds else None,
                    "error": error})
    set_layout(preset, False)
    return out


def warm(preset: zoo.Preset, device: torch.device, bf16: bool = False, most: int = CHUNK) -> float:
    """Seconds to run G + network once, forward and forward + backward, at every row count
    the sampler's passes use on a GPU up to ``most`` (:mod:`pipeline.models.rows`): a
    process plans each new shape once (cuDNN), and the windows should time the sampler,
    not that."""
    start = time.perf_counter()
    size = MIN_ROWS
    while size <= most:
        for backward in (False, True):
            pass_seconds(preset, size, device, backward=backward, bf16=bf16, repeats=-1)
        size *= 2
    return time.perf_counter() - start


def compile_probe(preset: zoo.Preset, rows: int, device: torch.device) -> dict[str, Any]:
    """``torch.compile`` of the network: its first call (compilation) and its bare pass
    against the plain network's, at ``rows`` rows."""
    network = speed_up(copy.deepcopy(preset.network), compile=True, device=device)
    start = time.perf_counter()
    pass_seconds(preset, rows, device, repeats=1, network=network)
    first = time.perf_counter() - start
    seconds = pass_seconds(preset, rows, device, network=network)
    plain = pass_seconds(preset, rows, device)
    return {"kind": "compile", "preset": preset.name, "rows": rows, "first_seconds": first,
            "seconds": seconds, "plain_seconds": plain, "speed_up": plain / seconds}


class _OutOfTimeError(Exception):
    """Raised from the progress callback to end a window that used its time."""


def _spent(batch: list) -> int:
    """Forward-equivalent evaluations the jobs of a batch have counted (a backward is two)."""
    return sum(job.counts["evals_forward"] + 2 * job.counts["evals_backward"] for job, _ in batch)


class _PassTimer:
    """Wraps the engine's ``evaluate_batch`` to add up its synchronised wall time and the
    forward-equivalent evaluations it counted."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.original = device, engine.evaluate_batch
        self.seconds, self.evals = 0.0, 0

    def __enter__(self) -> _PassTimer:
        def timed(generator: Any, readout: Any, batch: list, *args: Any) -> Any:
            before = _spent(batch)
            start = time.perf_counter()
            out = self.original(generator, readout, batch, *args)
            sync(self.device)
            self.seconds += time.perf_counter() - start
            self.evals += _spent(batch) - before
            return out

        engine.evaluate_batch = timed
        return self

    def __exit__(self, *exc: object) -> None:
        engine.evaluate_batch = self.original


def window(preset: zoo.Preset, problems: Iterator[Problem], slots: int, config: SamplerConfig,
           seconds: float, device: torch.device) -> dict[str, Any]:
    """Run the sampler with ``slots`` chains kept busy from ``problems`` for ``seconds``."""
    marks: list[tuple[float, int]] = []
    finished: list[dict[str, Any]] = []
    start = time.perf_counter()

    def progress(done: int, _wanted: int) -> None:
        marks.append((time.perf_counter() - start, done))
        if marks[-1][0] > seconds:
            raise _OutOfTimeError

    error = None
    with Utilisation(device) as busy, _PassTimer(device) as passes:
        try:
            for _, result in iter_problems(preset.generator, preset.encoder(), problems, config,
                                           progress=progress, slots=slots):
                finished.append(result.stats)
        except _OutOfTimeError:
            pass
        except torch.OutOfMemoryError:
            error = "out of memory"
            torch.cuda.empty_cache()
    return _window_row(preset.name, slots, config, marks, finished, passes, busy.mean, error)


def _window_row(name: str, slots: int, config: SamplerConfig, marks: list[tuple[float, int]],
                finished: list[dict[str, Any]], passes: _PassTimer, busy: float | None,
                error: str | None) -> dict[str, Any]:
    """The rates of one window from its progress marks."""
    wall, samples = marks[-1] if marks else (0.0, 0)
    half = next(((t, d) for t, d in marks if t >= wall / 2), (wall, samples))
    late = (samples - half[1]) / (wall - half[0]) if wall > half[0] else 0.0
    evals = [s["evals_per_sample"] for s in finished if s.get("evals_per_sample")]
    return {
        "kind": "window", "preset": name, "chains": slots, "k": config.k,
        "precision": config.precision, "error": error, "iterations": len(marks),
        "seconds": wall, "steps_per_s": len(marks) / wall if wall else 0.0,
        "samples": samples, "samples_per_s": samples / wall if wall else 0.0,
        "late_samples_per_s": late, "pass_share": passes.seconds / wall if wall else None,
        "evals_per_s": passes.evals / wall if wall else 0.0,
        "utilisation": busy, "jobs_finished": len(finished),
        "evals_per_sample": statistics.fmean(evals) if evals else None,
    }
