"""Building blocks of ``bench/figures.py``: runs, image rows, and the numbers under a figure."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import pipeline
from bench.common import evenly, feasibility, fmt, spread
from bench.features import EFFICIENTNET_LITE0, efficientnet_lite0
from pipeline import zoo
from pipeline.sampler import SampleSet
from pipeline.zoo.make_grids import save_grid
from pipeline.zoo.registry import BUILDERS

K = 10
PER_ROW = 10


def faces_efficientnet(size: int = 128, **options) -> zoo.Preset:
    """The faces G feeding EfficientNet-Lite0 (ImageNet-1k) instead of MobileNetV2: neurons
    are its 1000 logits (``classifier``), E its last feature map (``bn2``) mean-pooled."""
    faces = zoo.load("faces", size=size, **options)
    network = efficientnet_lite0(options.get("cache_dir"))
    return dataclasses.replace(
        faces, name="faces-efficientnet", network=network, encoder_layer="bn2",
        output_layer="classifier", info={**faces.info, "network": EFFICIENTNET_LITE0.describe()},
        description=faces.description.split(" -> ImageNet normalisation")[0]
        + " -> ImageNet normalisation -> EfficientNet-Lite0; E = bn2 mean-pooled",
    )


PRESETS = {**BUILDERS, "faces-efficientnet": faces_efficientnet}


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
    runs: dict[tuple, Run] = field(default_factory=dict)

    def preset(self, name: str, **options) -> zoo.Preset:
        """The preset ``name`` (faces at this context's size), loaded once per options;
        ``faces-efficientnet`` is the faces G feeding EfficientNet-Lite0."""
        if name.startswith("faces"):
            options = {"size": self.size, **options}
        key = (name, tuple(sorted(options.items())))
        if key not in self.presets:
            builder = PRESETS.get(name)
            self.presets[key] = builder(**options) if builder else zoo.load(name, **options)
        return self.presets[key]

    def sample(self, label: str, preset: zoo.Preset, constraints: list, n: int,
               **settings) -> Run:
        """:func:`sample`, run once per job: a job another figure of this run already made
        (same preset, neurons, bands, n and settings) is reused under the new label."""
        key = (id(preset), tuple((f.key, lo, hi) for f, lo, hi in constraints), n,
               tuple(sorted(settings.items())))
        if key not in self.runs:
            self.runs[key] = sample(label, preset, constraints, n, **settings)
        return dataclasses.replace(self.runs[key], label=label)

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


COLUMNS = (
    "row", "band(s)", "status (returned)", "in band", "prior in band", "evals fwd / bwd",
    "per sample", "iterations", "R-hat / ESS", "activations (in band)", "E mean / NN dist.",
    "redundancy", "s",
)


def iterations(stats: dict) -> str:
    """What a method iterated: exploration transitions and thinning (``ess``), else seed
    steps + sampling steps."""
    if stats["method"] == "ess":
        return f"{stats['transitions']} tr., thin {stats['thin']}"
    if stats["method"] == "joint":
        return f"{stats['seed_steps']} steps"
    return f"{stats['seed_steps']} + {stats['sample_steps']} steps"


def row(run: Run) -> list[str]:
    """The cells of one run in the order of :data:`COLUMNS`."""
    r, s = run.result, run.result.stats
    inside = r.features[r.in_band]
    mean, nn = spread(inside[evenly(inside.shape[0], 50)]) if inside.shape[0] > 1 else (
        None, None)
    return [
        run.label, "; ".join(f"[{lo:g}, {hi:g}]" for lo, hi in r.bands),
        f"{r.status} ({len(r)})", fmt(feasibility(r), ".2f"), fmt(s.get("prior_rate"), ".2f"),
        f"{s['evals_forward']} / {s['evals_backward']}", fmt(s.get("evals_per_sample"), ".1f"),
        iterations(s), f"{fmt(s.get('rhat'), '.3f')} / {fmt(s.get('ess'), '.0f')}",
        acts_range(r), f"{fmt(mean, '.3g')} / {fmt(nn, '.3g')}",
        fmt(s.get("redundancy"), ".2f"), f"{run.seconds:.0f}",
    ]


def numbers(runs: list[Run]) -> str:
    """The markdown table under a figure: status, costs, diagnostics, activations, spread."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(run)) + " |" for run in runs]
    return "\n".join(lines)


def code_extremes(result: SampleSet, bound: float) -> str:
    """How far the codes went: the largest |c| and the share of entries beyond ``bound``."""
    codes = result.codes
    if codes.numel() == 0:
        return "no samples"
    share = float((codes.abs() > bound).float().mean())
    return f"max |c| = {float(codes.abs().max()):.2f}, {100 * share:.1f}% of entries beyond {bound}"


def merge_sections(path: Path, header: list[str], sections: dict[str, str]) -> str:
    """The numbers file with ``sections`` (figure name -> its markdown, starting with
    ``## Figure <name>``) replacing or joining those already in ``path``, in figure order."""
    kept: dict[str, str] = {}
    if path.exists():
        for part in path.read_text().split("\n## Figure ")[1:]:
            name = part.split("\n", 1)[0].strip()
            kept[name] = "## Figure " + part.rstrip("\n") + "\n"
    kept.update(sections)
    order = sorted(kept, key=lambda name: (len(name), name))
    return "\n".join(header) + "\n\n" + "\n".join(kept[name] for name in order)
