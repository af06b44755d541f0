"""The zoo's end-to-end check: inverse sets of MobileNetV2's "sunglasses" logit on ``faces``.

``python -m pipeline.zoo.sunglasses`` measures the logit on random faces, samples n faces
in a low and a high band, re-verifies every returned sample on its stored 8-bit image,
writes ``docs/img/zoo-sunglasses-<band>.png`` and prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pipeline import InverseSetSampler, zoo
from pipeline.errors import exit_on_fault
from pipeline.models.generators import random_codes
from pipeline.zoo.make_grids import DOCS_IMG, save_grid


@torch.no_grad()
def activation_range(preset: zoo.Preset, unit: int, n: int = 256) -> dict[str, float]:
    """Quantiles of the unit's activation on ``n`` random faces (seed 0)."""
    f = preset.neuron(unit)
    values = torch.cat(
        [f(preset.generator(c)) for c in random_codes(preset.generator, n, 0).split(64)]
    )
    qs = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]
    return {
        f"q{int(q * 100)}": round(v, 3)
        for q, v in zip(qs, torch.quantile(values, torch.tensor(qs)).tolist(), strict=True)
    }


def sample_band(
    preset: zoo.Preset, unit: int, band: tuple[float, float], n: int, k: int, seed: int, out: Path
) -> dict:
    """Sample one band, re-verify, save the grid; return a summary."""
    f = preset.neuron(unit)
    sampler = InverseSetSampler(
        preset.generator, preset.encoder(), [(f, *band)], k=k, quantize=True
    )
    start = time.perf_counter()
    result = sampler.sample(n, seed=seed)
    wall = time.perf_counter() - start
    with torch.no_grad():
        again = f(result.inputs) if len(result.inputs) else torch.empty(0)
    inside = ((again >= band[0]) & (again <= band[1])).sum().item()
    if len(result.inputs):
        save_grid(result.inputs, out, nrow=10)
    return {
        "band": list(band),
        "returned": len(result.inputs),
        "verified_in_band": inside,
        "feasible": result.feasible,
        "wall_seconds": round(wall, 1),
        "activation_min": round(again.min().item(), 3) if len(again) else None,
        "activation_max": round(again.max().item(), 3) if len(again) else None,
        "seed_steps": result.stats.get("seed_steps"),
        "sample_steps": result.stats.get("sample_steps"),
        "redundancy": result.stats.get("redundancy"),
        "image": str(out) if len(result.inputs) else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: measure, sample the two bands, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--unit", default="sunglasses")
    parser.add_argument("--low", type=float, nargs=2, default=(1.0, 3.0))
    parser.add_argument("--high", type=float, nargs=2, default=(12.0, 15.0))
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DOCS_IMG)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    preset = zoo.load("faces", cache_dir=args.cache_dir, size=args.size)
    unit = preset.unit(args.unit)
    summary = {
        "unit": unit,
        "label": preset.labels[unit],
        "size": args.size,
        "random_faces": activation_range(preset, unit),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, band in (("low", tuple(args.low)), ("high", tuple(args.high))):
        path = args.out / f"zoo-sunglasses-{name}.png"
        summary[name] = sample_band(preset, unit, band, args.n, args.k, args.seed, path)
        print(json.dumps({name: summary[name]}), flush=True)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    with exit_on_fault():  # one ConfigError / EnvironmentFault line, exit 2 / 1
        main()
