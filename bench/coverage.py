"""Coverage of the inverse set against exact samples (issue 11's targets).

Where a band holds enough of G's prior, exact samples of the target p(c | bands) come by
rejection from the prior (``pipeline.sampler.coverage.rejection_reference``). Each method
samples n points (K = 10 chains, seed 0) and is scored against n exact points in E-space:
k-NN precision and recall (k = 3), the NN / mean-pair distance ratio, and the largest KS
distance between the activation distributions; R-hat and ESS are the sampler's own split-
R-hat and effective sample size over its chains (activations and 3 random projections of
E); evaluations are forward passes of G (and the network) per returned sample, backward
ones separately, and forward-equivalent (a backward counts as two; seeds included). The
"exact" row is a second rejection draw against the first: the recall any sampler can hope
for at this n (its cost is the rejection's draws per sample). Targets: recall >= 0.9 x
the exact row's, KS <= 0.1, <= 10 forward-equivalent evaluations per sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import pipeline
from bench.common import fmt, observed, quantile_band
from pipeline import zoo
from pipeline.models.readout import Readout
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.coverage import coverage, rejection_reference

N, K = 200, 10


@dataclass
class Setup:
    """One inverse set: G, E (None: the inputs), the constraints, and a label."""

    name: str
    generator: Callable
    encoder: Callable | None
    constraints: list


def logistic() -> Setup:
    """The paper's logistic unit on sigmoid pixels (64-d), band [0.6, 0.8]."""
    gen = torch.Generator().manual_seed(123)
    w = torch.randn(64, generator=gen)
    linear = torch.nn.Linear(64, 1)
    with torch.no_grad():
        linear.weight.copy_(w[None])
        linear.bias.fill_(-0.5 * float(w.sum()))
    model = torch.nn.Sequential(torch.nn.Flatten(), linear, torch.nn.Sigmoid())
    f = pipeline.neuron(model, "2", 0)
    return Setup("logistic unit, band [0.6, 0.8]", pipeline.PixelGenerator((64,)), None,
                 [(f, 0.6, 0.8)])


def intersection() -> Setup:
    """Two linear units on sigmoid pixels (32-d), each in its 30-80% prior quantiles."""
    gen = torch.Generator().manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, 32, generator=gen))
        model[1].bias.zero_()
    G = pipeline.PixelGenerator((32,))
    constraints = []
    for j in range(2):
        f = pipeline.neuron(model, "1", j)
        constraints.append((f, *quantile_band(observed(G, f, 2048), 0.3, 0.8)))
    return Setup("two-unit intersection (30-80% quantiles each)", G, None, constraints)


def preset(name: str, unit: str, quantiles: tuple[float, float]) -> Setup:
    """A zoo preset's output unit in a band between two quantiles over the prior."""
    p = zoo.load(name)
    f = p.neuron(unit)
    band = quantile_band(observed(p.generator, f, 1024), *quantiles)
    q = f"{int(quantiles[0] * 100)}-{int(quantiles[1] * 100)}%"
    return Setup(f"{name} '{unit}', {q} quantiles {list(band)}", p.generator, p.encoder(),
                 [(f, *band)])


def setups() -> list[Callable[[], Setup]]:
    """The inverse sets of the table, built lazily (presets load weights)."""
    return [
        logistic,
        intersection,
        lambda: preset("mnist", "3", (0.5, 0.75)),
        lambda: preset("faces", "sunglasses", (0.5, 0.75)),
    ]


METHODS = {
    "default (ess)": SamplerConfig(k=K),
    "fast sampler (with remedies)": SamplerConfig(k=K, method="fast"),
    "paper-literal fast sampler": SamplerConfig.paper(k=K),
}


def _reader(setup: Setup) -> Callable:
    readout = Readout([f for f, _, _ in setup.constraints], setup.encoder)

    def read(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        acts, feats = readout(x)
        return acts, x.flatten(1) if feats is None else feats

    return read


def rows_for(setup: Setup, n: int = N) -> list[dict]:
    """One row per method plus the exact row, for one inverse set."""
    bands = [(lo, hi) for _, lo, hi in setup.constraints]
    read = _reader(setup)
    with torch.no_grad():
        ref = rejection_reference(setup.generator, read, bands, n, seed=1001)
        ref2 = rejection_reference(setup.generator, read, bands, n, seed=1002)
    exact = coverage(ref2["feats"], ref2["acts"], ref["feats"], ref["acts"])
    rows = [{"set": setup.name, "method": "exact (rejection)", **exact, "rhat": None,
             "ess": None, "fwd": 1 / ref2["rate"], "bwd": 0.0, "equiv": 1 / ref2["rate"],
             "returned": n, "seconds": None}]
    for name, config in METHODS.items():
        start = time.perf_counter()
        problem = Problem(setup.constraints, n=n, seed=0)
        res = sample_problems(setup.generator, setup.encoder, [problem], config)[0]
        seconds = time.perf_counter() - start
        got = coverage(res.features, res.activations, ref["feats"], ref["acts"])
        st, count = res.stats, max(len(res), 1)
        rows.append({
            "set": setup.name, "method": name, **got, "rhat": st.get("rhat"),
            "ess": st.get("ess"), "fwd": st["evals_forward"] / count,
            "bwd": st["evals_backward"] / count, "equiv": st["evals_per_sample"],
            "returned": len(res), "status": res.status, "seconds": seconds,
        })
    return rows


def run(n: int = N) -> list[dict]:
    """Every setup's rows."""
    rows = []
    for make in setups():
        rows += rows_for(make(), n)
    return rows


COLUMNS = (  # (header, row key, format; None: as is)
    ("inverse set", "set", None), ("method", "method", None), ("recall", "recall", ".2f"),
    ("recall / exact", "relative", ".2f"), ("precision", "precision", ".2f"),
    ("NN ratio", "nn_ratio", ".2f"), ("KS", "ks", ".3f"), ("R-hat", "rhat", ".3f"),
    ("ESS", "ess", ".0f"), ("fwd / sample", "fwd", ".1f"), ("bwd / sample", "bwd", ".1f"),
    ("fwd-equiv. / sample", "equiv", ".1f"), ("returned", "returned", None),
    ("s", "seconds", ".1f"),
)


def table(rows: list[dict]) -> str:
    """Markdown table of the rows, with each method's recall relative to the exact row's."""
    lines = ["| " + " | ".join(c[0] for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    exact_recall: dict[str, float] = {}
    for r in rows:
        if r["method"].startswith("exact"):
            exact_recall[r["set"]] = r["recall"]
        base = exact_recall.get(r["set"])
        rel = r["recall"] / base if base and r["recall"] is not None else None
        row = {**r, "relative": rel}
        cells = [str(row[key]) if spec is None else fmt(row[key], spec) for _, key, spec in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(table(run()))
