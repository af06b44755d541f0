"""The paper's figures with the model zoo: ``python -m bench.figures [--only 1,2] [--quick]``.

Writes ``docs/img/exp-fig<N>.png`` and ``bench/FIGURES.md`` (the numbers under each
figure, each section replaced as its figure is done, so ``--only`` updates just those;
docs/experiments.md shows both). `faces` (DCGAN + MobileNetV2 at 128 px) stands in for the
paper's DeePSiM + CaffeNet; every job has K = 10 chains, seed 0 and stores 8-bit samples,
which are verified again before they are returned. Jobs use the sampler's default
(``method="ess"``) unless their row names another method. A job two figures share runs
once per process. ``--quick`` runs toy sizes (n = K, 3-step budgets, 64 px) to check the
code. Figures 3 and 6 are in :mod:`bench.figures_extra`.
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
from bench.common import observed
from bench.figure_kit import Context, code_extremes, merge_sections, numbers, save_rows, shown
from bench.figures_extra import PRIOR_DRAWS, describe, fig3, fig6
from pipeline.zoo.make_grids import DOCS_IMG

FIGURES_MD = Path(__file__).resolve().parent / "FIGURES.md"
PAPER = {k: v for k, v in pipeline.SamplerConfig.paper().to_dict().items()
         if k not in ("k", "quantize")}
FAST = {"method": "fast"}
SUNGLASSES_HIGH = (12.0, 15.0)


def fig1(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """One neuron, six bands: the sunglasses logit on a ladder of width-3 bands, n = 50."""
    faces = ctx.preset("faces")
    f = faces.neuron("sunglasses")
    ladder = [(float(lo), float(lo + 3)) for lo in range(0, 18, 3)]
    runs = [ctx.sample(f"[{lo:g}, {hi:g}]", faces, [(f, lo, hi)], ctx.n(50))
            for lo, hi in reversed(ladder)]
    prior = describe(observed(faces.generator, f, PRIOR_DRAWS).float())
    return [shown(r.result) for r in runs], f"{numbers(runs)}\n\nThe logit {prior}."


def fig2(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Against the PPGN-style sampler: two neurons, each by the default (n = 50), the fast
    sampler (n = 50; image rows not shown) and Langevin (10 chains x 200 steps; it keeps
    positions above the lower edge, so its samples may overshoot)."""
    faces = ctx.preset("faces")
    rows, runs = [], []
    for unit, band in (("sunglasses", SUNGLASSES_HIGH), ("wig", (12.0, 15.0))):
        f = faces.neuron(unit)
        ours = ctx.sample(f"{unit}: default (ess)", faces, [(f, *band)], ctx.n(50))
        fast = ctx.sample(f"{unit}: fast sampler", faces, [(f, *band)], ctx.n(50),
                          method="fast")
        ppgn = ctx.sample(f"{unit}: PPGN-style Langevin", faces, [(f, *band)], 10_000,
                          method="langevin", max_sample_steps=ctx.steps(200))
        rows += [shown(ours.result), shown(ppgn.result, in_band_only=False)]
        runs += [ours, fast, ppgn]
    return rows, numbers(runs)


def fig4(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Intersection of two output neurons: sunglasses, wig, and both, each in [9, 12]."""
    faces = ctx.preset("faces")
    s, w = faces.neuron("sunglasses"), faces.neuron("wig")
    runs = [
        ctx.sample("sunglasses", faces, [(s, 9.0, 12.0)], ctx.n(50)),
        ctx.sample("wig", faces, [(w, 9.0, 12.0)], ctx.n(50)),
        ctx.sample("sunglasses and wig", faces, [(s, 9.0, 12.0), (w, 9.0, 12.0)], ctx.n(50)),
    ]
    return [shown(r.result) for r in runs], numbers(runs)


def fig5(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """A hidden conv neuron with an output neuron: channel 197 of features.17 (centre) in
    [0.6, 0.9] (above the 99th percentile of random faces), alone, with toilet tissue
    [4, 6] and with sunglasses [9, 12]."""
    faces = ctx.preset("faces")
    conv = (faces.neuron(197, layer="features.17"), 0.6, 0.9)
    runs = [
        ctx.sample("features.17:197", faces, [conv], ctx.n(50)),
        ctx.sample("features.17:197 and toilet tissue", faces,
                   [conv, (faces.neuron("toilet tissue"), 4.0, 6.0)], ctx.n(50)),
        ctx.sample("features.17:197 and sunglasses", faces,
                   [conv, (faces.neuron("sunglasses"), 9.0, 12.0)], ctx.n(50)),
    ]
    return [shown(r.result) for r in runs], numbers(runs)


def fig7(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """Code-space distance (eq. 13) against E-space distance (eq. 5) in the fast sampler,
    sunglasses [12, 15], n = 50, with G's code box removed (as the paper's DeePSiM had
    none): paper-literal and with remedies; last row the default (ess, no diversity term),
    whose prior is then N(0, I) unbounded."""
    faces = ctx.preset("faces", code_bound=None)
    f = (faces.neuron("sunglasses"), *SUNGLASSES_HIGH)
    runs = []
    for name, base in (("fast, paper-literal", PAPER), ("fast, remedies", FAST)):
        for space, label in (("code", "eq. 13, code space"), ("encoder", "eq. 5, E-space")):
            runs.append(ctx.sample(f"{label}, {name}", faces, [f], ctx.n(50),
                                   **{**base, "diversity": space}))
    runs.append(ctx.sample("default (ess)", faces, [f], ctx.n(50)))
    extremes = "\n".join(f"- {r.label}: {code_extremes(r.result, 3.0)}" for r in runs)
    text = numbers(runs) + "\n\nCodes (the DCGAN was trained on N(0, I)):\n\n" + extremes
    return [shown(r.result) for r in runs], text


def fig8(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """No diversity term (eq. 14) against eq. 5 in the fast sampler, all chains from one
    initial code (``same_init=True``), sunglasses [12, 15], n = 50: paper-literal and with
    remedies; last row the default (ess) from the same shared start."""
    faces = ctx.preset("faces")
    f = (faces.neuron("sunglasses"), *SUNGLASSES_HIGH)
    runs = []
    for name, base in (("fast, paper-literal", PAPER), ("fast, remedies", FAST)):
        for div, label in (("none", "eq. 14, no diversity"), ("encoder", "eq. 5, diversity")):
            runs.append(ctx.sample(f"{label}, {name}", faces, [f], ctx.n(50),
                                   **{**base, "diversity": div, "same_init": True}))
    runs.append(ctx.sample("default (ess)", faces, [f], ctx.n(50), same_init=True))
    return [shown(r.result) for r in runs], numbers(runs)


def fig9(ctx: Context) -> tuple[list[torch.Tensor], str]:
    """The joint problem (eq. 15) against the fast sampler and the default (ess),
    sunglasses [12, 15], n = 50 on `faces` (the paper: n = 100; rows of 20 samples of the
    joint problem, then the fast sampler, then the default), and n = 100 on `mnist`
    (digit 3, [6, 8]; numbers only)."""
    runs, rows = [], []
    for name, unit, band, n, cap in (("faces", "sunglasses", SUNGLASSES_HIGH, 50, 400),
                                     ("mnist", "3", (6.0, 8.0), 100, 2000)):
        preset = ctx.preset(name)
        f = (preset.neuron(unit), *band)
        runs += [
            ctx.sample(f"{name}: joint (eq. 15)", preset, [f], ctx.n(n), method="joint",
                       max_seed_steps=ctx.steps(cap)),
            ctx.sample(f"{name}: fast sampler", preset, [f], ctx.n(n), method="fast"),
            ctx.sample(f"{name}: default (ess)", preset, [f], ctx.n(n)),
        ]
    for run in runs[:3]:
        twenty = shown(run.result, 20)
        rows += [twenty[:10], twenty[10:]]
    return rows, numbers(runs)


FIGURES: dict[str, Callable[[Context], tuple[list[torch.Tensor], str]]] = {
    "1": fig1, "2": fig2, "3": fig3, "4": fig4, "5": fig5, "6": fig6, "7": fig7, "8": fig8,
    "9": fig9,
}


def main(argv: list[str] | None = None) -> None:
    """Make the chosen figures; write their images and the numbers file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="e.g. 1,9 (default: all)")
    parser.add_argument("--quick", action="store_true", help="toy sizes, to check the code")
    parser.add_argument("--img-dir", type=Path, default=DOCS_IMG)
    parser.add_argument("--numbers", type=Path, default=FIGURES_MD)
    args = parser.parse_args(argv)
    ctx = Context(args.img_dir, quick=args.quick, size=64 if args.quick else 128)
    chosen = args.only.split(",") if args.only else list(FIGURES)
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figures {unknown}; valid: {sorted(FIGURES)}")
    command = "python -m bench.figures" + (f" --only {args.only}" if args.only else "")
    command += " --quick" if args.quick else ""
    header = ["# Numbers of the paper's figures, reproduced", "",
              "Each section says the command that made it and how long its figure took."]
    for name in chosen:
        start = time.perf_counter()
        rows, text = FIGURES[name](ctx)
        path = save_rows(rows, args.img_dir / f"exp-fig{name}.png")
        took = time.perf_counter() - start
        print(f"figure {name}: {path} ({took:.0f} s)", file=sys.stderr)
        doc = " ".join((FIGURES[name].__doc__ or "").split())
        link = os.path.relpath(path, args.numbers.resolve().parent)
        section = "\n".join([f"## Figure {name}", "", doc, "",
                             f"![figure {name}]({link}) (`{command}`, {took:.0f} s)", "",
                             text, ""])
        args.numbers.write_text(merge_sections(args.numbers, header, {name: section}))
    print(args.numbers.read_text())


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
