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
for at this n (its cost is the rejection's draws per sample). On image sets (mnist, faces,
imagenet) recall and precision are measured a second time in a feature space independent
of E and of the sampler: EfficientNet-Lite0's global-average-pooled penultimate features
(``bench.features``; images resized once to 128 px, grey ones repeated to 3 channels),
against the same exact points. Targets: recall >= 0.9 x the exact row's in both spaces,
KS <= 0.1, <= 10 forward-equivalent evaluations per sample. The KS of one run is noisy: two
exact sets of n = 200 differ by 0.087 on average. Beside it every row gives what the KS
reads for exact samples at this n: its mean and 95% quantile over random splits of the 2n
exact points into two halves (``ks_null``); a KS under that 95% is within the noise of
exact sampling. ``python -m bench.ks`` measures the KS against a large exact reference,
over seeds, where that is cheap.

Methods: the default (``ess``), the fast sampler with remedies, the paper-literal one,
eq. 14 (the fast sampler with ``diversity="none"``), PPGN-style Langevin (keeps positions
above the lower edge) and multi-start activation maximisation (every final image); the
last two do not hold the upper edge. High bands hold too little of the prior for a
rejection reference: their rows give only R-hat, ESS, evaluations, samples returned and
the job's status (targets: R-hat <= 1.05, ESS >= n / 2, every job returns n). The
imagenet preset (Fourier G, MobileNetV2, goldfish logit) runs at n = 100 (``SET_N``) with
the default and the fast sampler: its typical band is the 50-75% quantiles over the prior
(random Fourier codes give grey images, logits near -0.1), its high band the overnight
ladder's 5-10.
``python -m bench.coverage --sets mnist-high --methods ess`` runs some rows (names in
``SETS`` and ``SHORT``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

import pipeline
from bench.common import fmt, observed, quantile_band
from bench.features import Features, efficientnet_features
from pipeline import zoo
from pipeline.models.readout import Readout
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.coverage import coverage, ks_null, precision_recall, rejection_reference

N, K = 200, 10


@dataclass
class Setup:
    """One inverse set: G, E (None: the inputs), the constraints, and a label."""

    name: str
    generator: Callable
    encoder: Callable | None
    constraints: list
    reference: bool = True  # False: a high band, no rejection reference
    independent: Features | None = None  # images -> features independent of E (image sets)


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


def preset(name: str, unit: str, quantiles: tuple[float, float] | None,
           reference: bool = True, band: tuple[float, float] | None = None) -> Setup:
    """A zoo preset's output unit in a band between two quantiles over the prior (or in the
    absolute ``band``), with EfficientNet-Lite0 as the independent feature space where
    there is a reference to compare with."""
    p = zoo.load(name)
    f = p.neuron(unit)
    if band is None:
        band = quantile_band(observed(p.generator, f, 1024), *quantiles)
        where = f"{quantiles[0] * 100:g}-{quantiles[1] * 100:g}% quantiles"
    else:
        where = "band"
    return Setup(f"{name} '{unit}', {where} {list(band)}", p.generator, p.encoder(),
                 [(f, *band)], reference, efficientnet_features() if reference else None)


SETS: dict[str, Callable[[], Setup]] = {  # built lazily (presets load weights)
    "logistic": logistic,
    "intersection": intersection,
    "mnist": lambda: preset("mnist", "3", (0.5, 0.75)),
    "faces": lambda: preset("faces", "sunglasses", (0.5, 0.75)),
    "mnist-high": lambda: preset("mnist", "3", (0.9, 0.99), reference=False),
    "faces-high": lambda: preset("faces", "sunglasses", (0.95, 0.995), reference=False),
    "imagenet": lambda: preset("imagenet", "goldfish", (0.5, 0.75)),
    "imagenet-high": lambda: preset("imagenet", "goldfish", None, False, band=(5.0, 10.0)),
}
SET_N = {"imagenet": 100, "imagenet-high": 100}  # sets run at their own n (CPU cost)
TYPICAL = ("logistic", "intersection", "mnist", "faces")  # the table's first run


def setups(names: tuple[str, ...] = TYPICAL) -> list[Callable[[], Setup]]:
    """The inverse sets named, built lazily."""
    return [SETS[name] for name in names]


METHODS = {
    "default (ess)": SamplerConfig(k=K),
    "fast sampler (with remedies)": SamplerConfig(k=K, method="fast"),
    "paper-literal fast sampler": SamplerConfig.paper(k=K),
    "fast sampler, no diversity term (eq. 14)": SamplerConfig(k=K, method="fast",
                                                             diversity="none"),
    "PPGN-style (langevin)": SamplerConfig(k=K, method="langevin"),
    "multi-start": SamplerConfig(k=K, method="multistart"),
}
FIRST = tuple(METHODS)[:3]  # the table's first run
IMAGENET_METHODS = FIRST[:2]  # the default and the fast sampler
SHORT = dict(zip(("ess", "fast", "paper", "eq14", "langevin", "multistart"), METHODS,
                 strict=True))


def reader(setup: Setup) -> Callable:
    """x -> (the constraints' activations, E-features or the flattened inputs)."""
    readout = Readout([f for f, _, _ in setup.constraints], setup.encoder)

    def read(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        acts, feats = readout(x)
        return acts, x.flatten(1) if feats is None else feats

    return read


@torch.no_grad()
def _images(generator: Callable, codes: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """G(codes), in batches."""
    return torch.cat([generator(chunk) for chunk in codes.split(batch)])


def independent(features: Features | None, images: torch.Tensor,
                reference: torch.Tensor | None) -> dict:
    """Recall and precision of ``images`` against ``reference`` (independent features of
    the exact points) in the independent space; nothing without one."""
    if features is None or reference is None:
        return {}
    got = precision_recall(features(images), reference)
    return {"recall_ind": got["recall"], "precision_ind": got["precision"]}


def _exact_row(setup: Setup, read: Callable, n: int) -> tuple[dict, dict]:
    bands = [(lo, hi) for _, lo, hi in setup.constraints]
    with torch.no_grad():
        ref = rejection_reference(setup.generator, read, bands, n, seed=1001)
        ref2 = rejection_reference(setup.generator, read, bands, n, seed=1002)
    exact = coverage(ref2["feats"], ref2["acts"], ref["feats"], ref["acts"])
    null = ks_null(torch.cat([ref["acts"], ref2["acts"]]), n)
    ref["ks_null"] = {"ks_null_mean": null["mean"], "ks_null_q95": null["q95"]}
    ref["ind"] = None
    if setup.independent is not None:
        ref["ind"] = setup.independent(_images(setup.generator, ref["codes"]))
        exact.update(independent(setup.independent, _images(setup.generator, ref2["codes"]),
                                 ref["ind"]))
    return ref, {"set": setup.name, "method": "exact (rejection)", **exact, **ref["ks_null"],
                 "rhat": None,
                 "ess": None, "fwd": 1 / ref2["rate"], "bwd": 0.0, "equiv": 1 / ref2["rate"],
                 "returned": n, "seconds": None}


def iter_rows(setup: Setup, n: int = N, methods: tuple[str, ...] = FIRST,
              exact: bool = True) -> Iterator[dict]:
    """The exact row (where the set has a reference and ``exact``) and one row per method,
    each as soon as it is measured; without a reference the coverage columns are None. A
    set run at another n than the table's ``N`` says so in its name."""
    if n != N:
        setup = dataclasses.replace(setup, name=f"{setup.name} (n = {n})")
    read = reader(setup)
    ref = None
    if setup.reference:
        ref, row = _exact_row(setup, read, n)
        if exact:
            yield row
    for name in methods:
        start = time.perf_counter()
        problem = Problem(setup.constraints, n=n, seed=0)
        res = sample_problems(setup.generator, setup.encoder, [problem], METHODS[name])[0]
        seconds = time.perf_counter() - start
        got = ({**coverage(res.features, res.activations, ref["feats"], ref["acts"]),
                **independent(setup.independent, res.inputs, ref["ind"]), **ref["ks_null"]}
               if ref is not None else {})
        st, count = res.stats, max(len(res), 1)
        yield {
            "set": setup.name, "method": name, **got, "rhat": st.get("rhat"),
            "ess": st.get("ess"), "fwd": st["evals_forward"] / count,
            "bwd": st["evals_backward"] / count, "equiv": st["evals_per_sample"],
            "returned": len(res), "status": res.status, "seconds": seconds,
            "in_band": float(res.in_band.float().mean()) if len(res) else None,
        }


def rows_for(setup: Setup, n: int = N, methods: tuple[str, ...] = FIRST) -> list[dict]:
    """One row per method plus the exact row, for one inverse set."""
    return list(iter_rows(setup, n, methods))


def n_for(name: str, n: int | None = None) -> int:
    """Samples per job for a set: ``n`` if given, else the set's own (``SET_N``) or ``N``."""
    return n if n is not None else SET_N.get(name, N)


def run(n: int | None = None, sets: tuple[str, ...] = TYPICAL,
        methods: tuple[str, ...] = FIRST, exact: bool = True) -> list[dict]:
    """The rows of the sets and methods named (default: the table's first run); ``n``
    None: each set's own n (``n_for``)."""
    rows = []
    for name in sets:
        rows += iter_rows(SETS[name](), n_for(name, n), methods, exact)
    return rows


COLUMNS = (  # (header, row key, format; None: as is)
    ("inverse set", "set", None), ("method", "method", None), ("recall", "recall", ".2f"),
    ("recall / exact", "relative", ".2f"), ("precision", "precision", ".2f"),
    ("recall, EffNet-Lite0", "recall_ind", ".2f"),
    ("recall / exact, EffNet-Lite0", "relative_ind", ".2f"),
    ("precision, EffNet-Lite0", "precision_ind", ".2f"),
    ("NN ratio", "nn_ratio", ".2f"), ("KS", "ks", ".3f"),
    ("KS of exact sets: mean", "ks_null_mean", ".3f"),
    ("KS of exact sets: 95%", "ks_null_q95", ".3f"), ("R-hat", "rhat", ".3f"),
    ("ESS", "ess", ".0f"), ("fwd / sample", "fwd", ".1f"), ("bwd / sample", "bwd", ".1f"),
    ("fwd-equiv. / sample", "equiv", ".1f"), ("returned", "returned", None),
    ("s", "seconds", ".1f"),
)
COVERAGE_KEYS = ("recall", "relative", "precision", "recall_ind", "relative_ind",
                 "precision_ind", "nn_ratio", "ks", "ks_null_mean", "ks_null_q95")
HIGH_COLUMNS = tuple(c for c in COLUMNS if c[1] not in (*COVERAGE_KEYS, "seconds")) + (
    ("status", "status", None), ("s", "seconds", ".1f"))


def _ratio(value: float | None, exact: float | None) -> float | None:
    return value / exact if exact and value is not None else None


def line(row: dict, exact: dict | None = None, columns: tuple = COLUMNS) -> str:
    """One markdown row; the recall / exact columns need that set's exact row."""
    exact = exact or {}
    row = {**row, "relative": _ratio(row.get("recall"), exact.get("recall")),
           "relative_ind": _ratio(row.get("recall_ind"), exact.get("recall_ind"))}
    cells = [str(row[key]) if spec is None and row.get(key) is not None
             else fmt(row.get(key), spec or "") for _, key, spec in columns]
    return "| " + " | ".join(cells) + " |"


def header(columns: tuple = COLUMNS) -> str:
    """The table's two header lines."""
    return "| " + " | ".join(c[0] for c in columns) + " |\n|" + "---|" * len(columns)


def table(rows: list[dict], exact: dict[str, dict] | None = None) -> str:
    """Markdown table of the rows, with each method's recall relative to its set's exact
    row (from ``exact``, set name -> row, where the rows hold none for a set)."""
    known = dict(exact or {})
    lines = [header()]
    for r in rows:
        if r["method"].startswith("exact"):
            known[r["set"]] = r
        lines.append(line(r, known.get(r["set"])))
    return "\n".join(lines)


def markdown(n: int | None = None) -> str:
    """Every method on the typical sets and the default and fast sampler on imagenet, then
    the high bands (what ``python -m bench`` writes)."""
    typical = run(n, TYPICAL, tuple(METHODS)) + run(n, ("imagenet",), IMAGENET_METHODS)
    high = (run(n, ("mnist-high", "faces-high"), ("default (ess)",))
            + run(n, ("imagenet-high",), IMAGENET_METHODS))
    return (table(typical) + "\n\nHigh bands (no exact reference):\n\n"
            + "\n".join([header(HIGH_COLUMNS)] + [line(r, None, HIGH_COLUMNS) for r in high]))


def main(argv: list[str] | None = None) -> None:
    """Without --sets or --methods, the whole table (``markdown``); with them, the rows of
    the sets and methods named, each line as soon as it is measured (sets without a
    reference in the high-band columns)."""
    ap = argparse.ArgumentParser(prog="python -m bench.coverage")
    ap.add_argument("--sets", help=f"of {','.join(SETS)} (default: the typical ones)")
    ap.add_argument("--methods", help=f"of {','.join(SHORT)} (default: ess,fast,paper)")
    ap.add_argument("--no-exact", action="store_true", help="leave out the exact rows")
    ap.add_argument("--n", type=int, default=None,
                    help=f"samples per job (default: {N}; imagenet sets {SET_N['imagenet']})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.sets is None and args.methods is None:
        print(markdown(args.n))
        return
    methods = tuple(SHORT[m] for m in (args.methods or "ess,fast,paper").split(","))
    known: dict[str, dict] = {}
    for name in (args.sets or ",".join(TYPICAL)).split(","):
        setup = SETS[name]()
        columns = COLUMNS if setup.reference else HIGH_COLUMNS
        print(header(columns), flush=True)
        for row in iter_rows(setup, n_for(name, args.n), methods, not args.no_exact):
            if row["method"].startswith("exact"):
                known[row["set"]] = row
            print(line(row, known.get(row["set"]), columns), flush=True)
            print(f"{row['method']}: in band {fmt(row.get('in_band'), '.2f')}", file=sys.stderr)


if __name__ == "__main__":
    main()
