"""Legible `imagenet` samples: the preset as the overnight sweep runs it, against legible settings.

The `imagenet` preset has no image prior: G is a decorrelated-colour Fourier
parameterisation with a 1/f amplitude spectrum (as Lucid's) and a stated Gaussian code
prior. Two settings are compared on MobileNetV2's logits, each with the default sampler
(`method="ess"`), K = 4 chains, n samples per job, seed 0, 8-bit samples, `thin` fixed
(the IAT-chosen thinning of these slowly mixing chains would spend the small budget on
one or two samples per job):

- **overnight**: 128 px, code prior N(0, 0.01^2) (Lucid's initial scale: every prior
  draw is a flat grey image, pixel standard deviation 0.003), no transforms.
- **legible**: 224 px (MobileNetV2's training resolution), code prior N(0, I) (preset
  option `prior_std=1.0`: pixel standard deviation about 0.24, the contrast of natural
  images; draws are coloured 1/f noise), and transformation robustness in the seed
  phase's gradient steps (per step a random scale in 0.9-1.1, rotation up to 10 degrees
  and shift up to 8 px of G(c) before the network; every band check, the exploration and
  the verification read the untransformed G(c)). `conf/legible.yaml` runs a sweep with
  these settings.
- **no-moves**: the legible setting without the transforms (what they add).

Columns: per class and band, the samples returned, the share whose MobileNetV2 top-5
(read on the stored 8-bit image, at the setting's size) includes the target class, the
share whose top-1 is the target, the share whose top-5 still includes it after a small
move of the image (`moved`: mean over 4 fixed moves, each a draw of the legible
setting's transforms from seed 0: the class of a legible picture survives a shift of a
few pixels, that of a pixel-exact pattern does not), and the share of flat grey images
(pixel standard deviation below 0.02).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline import InverseSetSampler, RandomTransforms, zoo
from pipeline.errors import ConfigError, exit_on_fault
from pipeline.zoo.make_grids import save_grid
from pipeline.zoo.preset import Preset

CLASSES = ("goldfish", "flamingo", "bee", "monarch", "strawberry")
BANDS = ((0.0, 5.0), (20.0, 25.0))
GREY = 0.02  # pixel standard deviation below which a sample counts as a flat grey image
N, K, THIN, BUDGET = 8, 4, 3, 150.0
MOVES = 4  # fixed random moves per sample for the `moved` column


@dataclass(frozen=True)
class Setting:
    """How the preset is built (image side, scale of G's code prior) and the transforms."""

    size: int
    prior_std: float = 0.01
    transform: dict[str, Any] = field(default_factory=dict)


SETTINGS = {
    "overnight": Setting(size=128),
    "legible": Setting(
        size=224,
        prior_std=1.0,
        transform={"jitter": 8, "scales": (0.9, 0.95, 1.0, 1.05, 1.1), "rotate": 10.0},
    ),
    "no-moves": Setting(size=224, prior_std=1.0),
}


@torch.no_grad()
def scores(preset: Preset, inputs: torch.Tensor, unit: int) -> dict[str, float]:
    """Shares of ``inputs`` whose top-5 / top-1 holds ``unit`` (also after small moves),
    and of flat grey images."""
    if not len(inputs):
        return dict.fromkeys(("top5", "top1", "moved", "grey"), float("nan"))

    def top(images: torch.Tensor) -> torch.Tensor:
        return preset.network(preset.preprocess(images)).topk(5, dim=1).indices

    first = top(inputs)
    moves = RandomTransforms(**SETTINGS["legible"].transform)
    rng = torch.Generator().manual_seed(0)
    moved = [(top(moves(inputs, rng)) == unit).any(dim=1).float() for _ in range(MOVES)]
    return {
        "top5": (first == unit).any(dim=1).float().mean().item(),
        "top1": (first[:, 0] == unit).float().mean().item(),
        "moved": torch.stack(moved).mean().item(),
        "grey": (inputs.flatten(1).std(dim=1) < GREY).float().mean().item(),
    }


def run(name: str, classes: tuple[str, ...], bands: tuple[tuple[float, float], ...], n: int,
        grid_path: Path | None = None) -> list[dict[str, Any]]:
    """Sample every class in every band with setting ``name``: the rows of the table; the
    grid of the samples (if ``grid_path``) is rewritten after every job."""
    setting = SETTINGS[name]
    preset = zoo.load("imagenet", size=setting.size, prior_std=setting.prior_std)
    transform = RandomTransforms(**setting.transform) if setting.transform else None
    rows, samples = [], {}
    for label in classes:
        unit = preset.unit(label)
        for lo, hi in bands:
            sampler = InverseSetSampler(
                preset.generator, preset.encoder(), [(preset.neuron(unit), lo, hi)], k=K,
                transform=transform, quantize=True, thin=THIN, budget=BUDGET,
            )
            result = sampler.sample(n, seed=0)
            samples[label, (lo, hi)] = result.inputs
            rows.append({"setting": name, "class": label, "band": f"{lo:g}-{hi:g}",
                         "returned": len(result), "evals": result.stats.get("evals_per_sample"),
                         **scores(preset, result.inputs, unit)})
            print(rows[-1], flush=True)
            if grid_path is not None:
                grid(samples, grid_path, per_band=4)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per setting, class and band, then the means per setting and band."""
    lines = ["| setting | class | band | returned | top-5 has target | top-1 | top-5, moved "
             "| flat grey | evaluations / sample |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        evals = f"{r['evals']:.0f}" if r["evals"] else "-"
        lines.append(f"| {r['setting']} | {r['class']} | {r['band']} | {r['returned']} | "
                     f"{r['top5']:.2f} | {r['top1']:.2f} | {r['moved']:.2f} | {r['grey']:.2f} "
                     f"| {evals} |")
    for setting in dict.fromkeys(r["setting"] for r in rows):
        for band in dict.fromkeys(r["band"] for r in rows):
            group = [r for r in rows if r["setting"] == setting and r["band"] == band]
            total = sum(r["returned"] for r in group)
            mean = {key: sum(r[key] * r["returned"] for r in group if r["returned"]) / total
                    if total else float("nan") for key in ("top5", "top1", "moved", "grey")}
            lines.append(f"| **{setting}** | all | {band} | {total} | **{mean['top5']:.2f}** | "
                         f"{mean['top1']:.2f} | **{mean['moved']:.2f}** | "
                         f"**{mean['grey']:.2f}** | |")
    return "\n".join(lines)


def markdown() -> str:
    """The table of every setting on the default classes (what ``python -m bench`` writes)."""
    rows = []
    for name in SETTINGS:
        rows += run(name, CLASSES, BANDS, N)
    return table(rows)


def grid(samples: dict[tuple[str, tuple[float, float]], torch.Tensor], path: Path,
         per_band: int, tile: int = 96) -> Path:
    """One row per class, ``per_band`` samples of each band side by side (blank if fewer),
    each shown at ``tile`` px."""
    rows = []
    for images in samples.values():
        shown = torch.nn.functional.interpolate(
            images[:per_band].cpu().float(), size=(tile, tile), mode="bilinear", antialias=True
        ) if len(images) else torch.ones(0, 3, tile, tile)
        rows.append(torch.cat([shown, torch.ones(per_band - len(shown), 3, tile, tile)]))
    bands = len({band for _, band in samples})
    return save_grid(torch.cat(rows), path, per_band * bands)


def parse_bands(text: str) -> tuple[tuple[float, float], ...]:
    """``"0-5,20-25"`` -> ``((0.0, 5.0), (20.0, 25.0))``."""
    try:
        return tuple((float(lo), float(hi)) for lo, hi in (b.split("-") for b in text.split(",")))
    except ValueError:
        raise ConfigError(f"--bands must look like 0-5,20-25, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    """Command line: print the table (and write a grid of one setting's samples)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="overnight,legible,no-moves")
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--bands", default=",".join(f"{lo:g}-{hi:g}" for lo, hi in BANDS),
                        help="comma-separated lo-hi logit bands")
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--grid", type=Path, help="PNG of the samples of every setting run: "
                        "the setting's name is added to the file's name")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.settings.split(",")
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"unknown settings {unknown}; valid: {sorted(SETTINGS)}")
    rows = []
    for name in names:
        path = args.grid.with_name(f"{args.grid.stem}-{name}.png") if args.grid else None
        rows += run(name, tuple(args.classes.split(",")), parse_bands(args.bands), args.n, path)
    print(table(rows))


if __name__ == "__main__":
    with exit_on_fault():
        main()
