"""Building blocks of ``bench/figures.py``: runs, image rows, and the numbers under a figure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import pipeline
from bench.common import evenly, feasibility, fmt, spread
from pipeline import zoo
from pipeline.sampler import SampleSet
from pipeline.zoo.make_grids import save_grid

K = 10
PER_ROW = 10


@dataclass
class Run:
    """One sampling job of a figure: its label, result and wall-clock seconds."""

    label: str
    result: SampleSet
    seconds: float


@dataclass
class Context:
    """What every figure needs: sizes (full or quick), where images go, loaded presets."""

    img_dir: Path
    quick: bool = False
    size: int = 128
    presets: dict[tuple, zoo.Preset] = field(default_factory=dict)

    def preset(self, name: str, **options) -> zoo.Preset:
        """The preset ``name`` (faces at this context's size), loaded once per options."""
        if name == "faces":
            options = {"size": self.size, **options}
        key = (name, tuple(sorted(options.items())))
        if key not in self.presets:
            self.presets[key] = zoo.load(name, **options)
        return self.presets[key]

    def n(self, full: int) -> int:
        """Samples per job: ``full``, or K in quick mode."""
        return K if self.quick else full

    def steps(self, full: int) -> int:
        """A step budget: ``full``, or 3 in quick mode."""
        return 3 if self.quick else full


def sample(label: str, preset: zoo.Preset, constraints: list, n: int, seed: int = 0,
           **settings) -> Run:
    """Sample ``n`` from the intersection of ``constraints`` with this preset's G and E
    (K = 10, 8-bit samples), timing it."""
    sampler = pipeline.InverseSetSampler(
        preset.generator, preset.encoder(), constraints, k=K, quantize=True, **settings
    )
    start = time.perf_counter()
    result = sampler.sample(n, seed=seed)
    return Run(label, result, time.perf_counter() - start)


def shown(result: SampleSet, count: int = PER_ROW, in_band_only: bool = True) -> torch.Tensor:
    """``count`` inputs evenly spaced in the order they were produced (in-band ones only,
    unless ``in_band_only`` is False)."""
    inputs = result.inputs[result.in_band] if in_band_only else result.inputs
    return inputs[evenly(inputs.shape[0], count)]


def save_rows(rows: list[torch.Tensor], path: Path) -> Path:
    """One grid PNG with one row per tensor (short rows padded with blank images)."""
    padded = []
    for row in rows:
        if row.shape[0] < PER_ROW:
            blank = torch.ones(PER_ROW - row.shape[0], *row.shape[1:])
            row = torch.cat([row, blank]) if row.shape[0] else blank
        padded.append(row[:PER_ROW])
    size = max(r.shape[-1] for r in padded)
    padded = [torch.nn.functional.interpolate(r, size=size) if r.shape[-1] != size else r
              for r in padded]
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_grid(torch.cat(padded), path, PER_ROW)


def acts_range(result: SampleSet) -> str:
    """Verified activations of the in-band samples, ``min..max`` per constraint."""
    acts = result.activations[result.in_band]
    if acts.shape[0] == 0:
        return "-"
    return "; ".join(f"{float(a.min()):.2f}..{float(a.max()):.2f}" for a in acts.T)


def numbers(runs: list[Run]) -> str:
    """The markdown table under a figure: steps, feasibility, activations, E-space spread."""
    lines = [
        "| row | band(s) | seed steps | sampling steps | returned | feasibility | "
        "activations (in band) | E mean / NN dist. | redundancy | s |",
        "|" + "---|" * 10,
    ]
    for run in runs:
        r, s = run.result, run.result.stats
        inside = r.features[r.in_band]
        mean, nn = spread(inside[evenly(inside.shape[0], 50)]) if inside.shape[0] > 1 else (
            None, None)
        bands = "; ".join(f"[{lo:g}, {hi:g}]" for lo, hi in r.bands)
        steps = s["sample_steps"] if s["method"] != "joint" else "-"
        lines.append(
            f"| {run.label} | {bands} | {s['seed_steps']} | {steps} | {len(r)} | "
            f"{fmt(feasibility(r), '.2f')} | {acts_range(r)} | {fmt(mean, '.3g')} / "
            f"{fmt(nn, '.3g')} | {fmt(s.get('redundancy'), '.2f')} | {run.seconds:.0f} |"
        )
    return "\n".join(lines)


def code_extremes(result: SampleSet, bound: float) -> str:
    """How far the codes went: the largest |c| and the share of entries beyond ``bound``."""
    codes = result.codes
    if codes.numel() == 0:
        return "no samples"
    share = float((codes.abs() > bound).float().mean())
    return f"max |c| = {float(codes.abs().max()):.2f}, {100 * share:.1f}% of entries beyond {bound}"
