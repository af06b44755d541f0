"""The paper's figures with the model zoo: ``python -m bench.figures [--only 1,2] [--quick]``.

Writes ``docs/img/exp-fig<N>.png`` and ``bench/FIGURES.md`` (the numbers under each
figure; docs/experiments.md shows both). `faces` (DCGAN + MobileNetV2 at 128 px) stands
in for the paper's DeePSiM + CaffeNet; every job has K = 10 chains, seed 0 and stores
8-bit samples, which are verified again before they are returned. ``--quick`` runs toy
sizes (n = K, 3-step budgets, 64 px) to check the code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import pipeline
from bench.figure_kit import Context, Run, code_extremes, numbers, sample, save_rows, shown
from pipeline.zoo.make_grids import DOCS_IMG

FIGURES_MD = Path(__file__).resolve().parent / "FIGURES.md"
PAPER = {k: v for k, v in pipeline.SamplerConfig.paper().to_dict().items()
         if k not in ("k", "quantize")}
SUNGLASSES_HIGH = (12.0, 15.0)


def fig1(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """One neuron, six bands: the sunglasses logit on a ladder of width-3 bands, n = 50."""
    faces = ctx.preset("faces")
    f = faces.neuron("sunglasses")
    ladder = [(float(lo), float(lo + 3)) for lo in range(0, 18, 3)]
    runs = [sample(f"[{lo:g}, {hi:g}]", faces, [(f, lo, hi)], ctx.n(50))
            for lo, hi in reversed(ladder)]
    return [shown(r.result) for r in runs], numbers(runs)


def fig2(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Against the PPGN-style sampler: two neurons, ours (n = 50) then Langevin (10 chains x
    200 steps; it keeps positions above the lower edge, so its samples may overshoot)."""
    faces = ctx.preset("faces")
    rows, runs = [], []
    for unit, band in (("sunglasses", SUNGLASSES_HIGH), ("wig", (12.0, 15.0))):
        f = faces.neuron(unit)
        ours = sample(f"{unit}: this sampler", faces, [(f, *band)], ctx.n(50))
        ppgn = sample(f"{unit}: PPGN-style Langevin", faces, [(f, *band)], 10_000,
                      method="langevin", max_sample_steps=ctx.steps(200))
        rows += [shown(ours.result), shown(ppgn.result, in_band_only=False)]
        runs += [ours, ppgn]
    return rows, numbers(runs)


def fig4(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Intersection of two output neurons: sunglasses, wig, and both, each in [9, 12]."""
    faces = ctx.preset("faces")
    s, w = faces.neuron("sunglasses"), faces.neuron("wig")
    runs = [
        sample("sunglasses", faces, [(s, 9.0, 12.0)], ctx.n(50)),
        sample("wig", faces, [(w, 9.0, 12.0)], ctx.n(50)),
        sample("sunglasses and wig", faces, [(s, 9.0, 12.0), (w, 9.0, 12.0)], ctx.n(50)),
    ]
    return [shown(r.result) for r in runs], numbers(runs)


def fig5(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """A hidden conv neuron with an output neuron: channel 197 of features.17 (centre) in
    [0.6, 0.9] (above the 99th percentile of random faces), alone, with toilet tissue
    [4, 6] and with sunglasses [9, 12]."""
    faces = ctx.preset("faces")
    conv = (faces.neuron(197, layer="features.17"), 0.6, 0.9)
    runs = [
        sample("features.17:197", faces, [conv], ctx.n(50)),
        sample("features.17:197 and toilet tissue", faces,
               [conv, (faces.neuron("toilet tissue"), 4.0, 6.0)], ctx.n(50)),
        sample("features.17:197 and sunglasses", faces,
               [conv, (faces.neuron("sunglasses"), 9.0, 12.0)], ctx.n(50)),
    ]
    return [shown(r.result) for r in runs], numbers(runs)


def fig7(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Code-space distance (eq. 13) against E-space distance (eq. 5), sunglasses [12, 15],
    n = 50, with G's code box removed (as the paper's DeePSiM had none); the paper-literal
    fast sampler and this one's defaults."""
    faces = ctx.preset("faces", code_bound=None)
    f = (faces.neuron("sunglasses"), *SUNGLASSES_HIGH)
    runs = []
    for name, base in (("paper-literal", PAPER), ("defaults", {})):
        for space, label in (("code", "eq. 13, code space"), ("encoder", "eq. 5, E-space")):
            runs.append(sample(f"{label}, {name}", faces, [f], ctx.n(50),
                               **{**base, "diversity": space}))
    extremes = "\n".join(f"- {r.label}: {code_extremes(r.result, 3.0)}" for r in runs)
    text = numbers(runs) + "\n\nCodes (the DCGAN was trained on N(0, I)):\n\n" + extremes
    return [shown(r.result) for r in runs], text


def fig8(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """No diversity term (eq. 14) against eq. 5, all chains from one initial code
    (``same_init=True``), sunglasses [12, 15], n = 50; paper-literal and defaults."""
    faces = ctx.preset("faces")
    f = (faces.neuron("sunglasses"), *SUNGLASSES_HIGH)
    runs = []
    for name, base in (("paper-literal", PAPER), ("defaults", {})):
        for div, label in (("none", "eq. 14, no diversity"), ("encoder", "eq. 5, diversity")):
            runs.append(sample(f"{label}, {name}", faces, [f], ctx.n(50),
                               **{**base, "diversity": div, "same_init": True}))
    return [shown(r.result) for r in runs], numbers(runs)


def fig9(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """The fast sampler against the joint problem (eq. 15), sunglasses [12, 15], n = 50 on
    `faces` (the paper: n = 100), and n = 100 on `mnist` (digit 3, [6, 8]; numbers only)."""
    faces = ctx.preset("faces")
    f = (faces.neuron("sunglasses"), *SUNGLASSES_HIGH)
    runs = [
        sample("faces: joint (eq. 15)", faces, [f], ctx.n(50), method="joint",
               max_seed_steps=ctx.steps(400)),
        sample("faces: fast sampler", faces, [f], ctx.n(50)),
    ]
    rows = [shown(runs[0].result, 20)[:10], shown(runs[0].result, 20)[10:],
            shown(runs[1].result, 20)[:10], shown(runs[1].result, 20)[10:]]
    mnist = ctx.preset("mnist")
    g = (mnist.neuron("3"), 6.0, 8.0)
    runs += [
        sample("mnist: joint (eq. 15)", mnist, [g], ctx.n(100), method="joint",
               max_seed_steps=ctx.steps(2000)),
        sample("mnist: fast sampler", mnist, [g], ctx.n(100)),
    ]
    evals = "\n".join(f"- {r.label}: {chain_evals(r)} chain-evaluations" for r in runs)
    return rows, numbers(runs) + "\n\nCompute (forward + backward of one chain):\n\n" + evals


def chain_evals(run: Run) -> int:
    """Chain-evaluations of a fast or joint run."""
    s = run.result.stats
    if s["method"] == "joint":
        return s["n_requested"] * (s["seed_steps"] + 1)
    return 10 * (s["seed_steps"] + s["sample_steps"] + 1)


FIGURES: dict[str, Callable[[Context], tuple[list[torch.Tensor], str]]] = {
    "1": fig1, "2": fig2, "4": fig4, "5": fig5, "7": fig7, "8": fig8, "9": fig9,
}


def main(argv: list[str] | None = None) -> None:
    """Make the chosen figures; write their images and the numbers file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FIGURES), help="e.g. 1,9")
    parser.add_argument("--quick", action="store_true", help="toy sizes, to check the code")
    parser.add_argument("--img-dir", type=Path, default=DOCS_IMG)
    parser.add_argument("--numbers", type=Path, default=FIGURES_MD)
    args = parser.parse_args(argv)
    ctx = Context(args.img_dir, quick=args.quick, size=64 if args.quick else 128)
    chosen = args.only.split(",")
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figures {unknown}; valid: {sorted(FIGURES)}")
    lines = ["# Numbers of the paper's figures, reproduced", "",
             f"Made by `python -m bench.figures{' --quick' if args.quick else ''}`.", ""]
    for name in chosen:
        start = time.perf_counter()
        rows, text = FIGURES[name](ctx)
        path = save_rows(rows, args.img_dir / f"exp-fig{name}.png")
        took = time.perf_counter() - start
        print(f"figure {name}: {path} ({took:.0f} s)", file=sys.stderr)
        doc = " ".join((FIGURES[name].__doc__ or "").split())
        link = os.path.relpath(path, args.numbers.resolve().parent)
        lines += [f"## Figure {name}", "", doc, "", f"![figure {name}]({link}) ({took:.0f} s)",
                  "", text, ""]
    args.numbers.write_text("\n".join(lines) + "\n")
    print(args.numbers.read_text())


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
