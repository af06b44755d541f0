"""Helpers shared by the benchmarks: bands from observed activations, compute counts, subsets."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn

from pipeline.models.generators import random_codes
from pipeline.sampler import SampleSet
from pipeline.sampler.metrics import redundancy

Images = Callable[[torch.Tensor], torch.Tensor]


def machine() -> str:
    """One line naming the machine the absolute times come from."""
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


@torch.no_grad()
def observed(generator: nn.Module, f: Callable, n: int = 256, seed: int = 0) -> torch.Tensor:
    """Activations of ``f`` on ``n`` random codes through G (seeded), in batches of 64."""
    codes = random_codes(generator, n, seed)
    return torch.cat([f(generator(chunk)) for chunk in codes.split(64)])


def bare_pass(generator: Callable, network: Callable, preprocess: Callable | None,
              codes: torch.Tensor, backward: bool) -> None:
    """One pass of the bare cost a sampler's evaluation is measured against: ``codes`` -> G
    -> (``preprocess``) -> network, under ``torch.no_grad`` (a forward-only row), or with
    autograd and the gradient of the first output's sum back to the codes (a gradient row).
    The benchmarks time it with their own clock (CPU thread time on a CPU actor's layout,
    wall time with device syncs on a GPU)."""
    preprocess = preprocess or (lambda v: v)
    if not backward:
        with torch.no_grad():
            network(preprocess(generator(codes)))
        return
    x = codes.clone().requires_grad_(True)
    out = network(preprocess(generator(x)))
    torch.autograd.grad(out[:, 0].float().sum(), x)


def quantile_band(values: torch.Tensor, lo: float, hi: float) -> tuple[float, float]:
    """The band between two quantiles of observed activations, rounded to 2 decimals."""
    q = torch.quantile(values.float(), torch.tensor([lo, hi])).tolist()
    return round(q[0], 2), round(q[1], 2)


def chain_evaluations(result: SampleSet) -> int:
    """Evaluations of G and the network spent on a result, counted per chain (a forward,
    plus a backward where the method took one: ``evals_backward`` says how many).

    The fast phase's tangent noise adds one backward per constraint on top (see the
    overhead table); it is not counted here.
    """
    return int(result.stats["evals_forward"])


def feasibility(result: SampleSet) -> float | None:
    """Share of the samples a method produced that lie in every band on re-evaluation.

    The inverse-set methods drop failures before returning (``dropped_on_verify``), so
    they are counted back in; the baselines return everything and mark ``in_band``.
    """
    dropped = int(result.stats.get("dropped_on_verify") or 0)
    produced = len(result) + dropped
    return int(result.in_band.sum()) / produced if produced else None


def evenly(count: int, m: int) -> torch.Tensor:
    """Indices of ``min(count, m)`` items spread evenly over ``range(count)``."""
    if count <= m:
        return torch.arange(count)
    return torch.linspace(0, count - 1, m).round().long()


def spread(feats: torch.Tensor) -> tuple[float | None, float | None]:
    """Mean pairwise and mean nearest-neighbour distance of a set of feature vectors."""
    figures = redundancy(feats.float())
    return figures["mean_pairwise"], figures["mean_nn"]


@contextmanager
def timed(into: dict, key: str = "seconds"):
    """Store the wall-clock seconds of the ``with`` block in ``into[key]``."""
    start = time.perf_counter()
    try:
        yield into
    finally:
        into[key] = time.perf_counter() - start


def fmt(value: float | int | None, spec: str) -> str:
    """``format(value, spec)``, or ``-`` for missing values."""
    return "-" if value is None else format(value, spec)


def markdown_table(rows: list[dict], columns: tuple[tuple[str, str, str | None], ...]) -> str:
    """A markdown table of ``rows``; ``columns`` are (header, key, format spec or None)."""
    lines = ["| " + " | ".join(c[0] for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row[key]) if spec is None else fmt(row[key], spec)
                 for _, key, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
