"""The KS distance of the activations against a large exact reference, over seeds.

The coverage table's KS compares one run of n = 200 samples with 200 exact ones: two exact
sets of that size differ by 0.087 on average and by more than 0.136 one time in 20, so one
such KS cannot tell a sampler's bias from noise. Here each set's exact law is a large
rejection sample from the prior (``POOL`` points: cheap on the analytic sets), and every
method runs on several seeds at several n. Columns: the mean and the largest over seeds of
the KS against that reference; the KS of all seeds' samples pooled (N = seeds x n points
against m: its noise is about 0.87 sqrt(1/N + 1/m), the Kolmogorov law's mean, a little more
for the largest of two constraints; what is left above that is the sampler's own distance
from the target); what the KS reads for exact samples of the same n against the same reference
(mean and 95% quantile over random n-subsets of the reference against the rest,
``ks_null``); and where the pooled samples differ most, as the share of them in the
reference's worst activation decile (exact: 0.10 each). The "exact" rows are fresh
rejection draws of n per seed, scored the same way: the baseline any sampler can reach.

``python -m bench.ks --sets logistic,intersection --n 200,2000 --seeds 5`` (names of sets
and methods as in ``bench.coverage``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator

import torch

from bench.common import fmt
from bench.coverage import METHODS, SETS, SHORT, Setup, reader
from pipeline.sampler import Problem, sample_problems
from pipeline.sampler.coverage import ks_distance, ks_null, rejection_reference

POOL = {"logistic": 50_000, "intersection": 50_000, "mnist": 4_000, "faces": 2_000,
        "imagenet": 1_000}
NS, SEEDS = (200, 2000), 5
EXACT = "exact (rejection)"


def reference(setup: Setup, m: int, seed: int) -> dict:
    """``m`` exact samples of the set by rejection from the prior (activations, rate)."""
    bands = [(lo, hi) for _, lo, hi in setup.constraints]
    with torch.no_grad():
        return rejection_reference(setup.generator, reader(setup), bands, m, seed=seed,
                                   batch=256)


def runs(setup: Setup, method: str, n: int, seeds: int) -> list[torch.Tensor]:
    """The activations of ``seeds`` runs of ``method`` (or exact draws) at ``n``."""
    if method == EXACT:
        return [reference(setup, n, seed=5000 + s)["acts"] for s in range(seeds)]
    return [sample_problems(setup.generator, setup.encoder,
                            [Problem(setup.constraints, n=n, seed=s)], METHODS[method])[0]
            .activations for s in range(seeds)]


def worst_decile(acts: torch.Tensor, exact: torch.Tensor) -> tuple[int, float]:
    """The reference's activation decile (1-10, over constraints) whose share of ``acts``
    is furthest from 0.1, and that share."""
    worst = (1, 0.1)
    for j in range(acts.shape[1]):
        edges = torch.quantile(exact[:, j].double(), torch.linspace(0.1, 0.9, 9).double())
        which = torch.bucketize(acts[:, j].double().contiguous(), edges)
        share = torch.bincount(which, minlength=10).double() / acts.shape[0]
        i = int((share - 0.1).abs().argmax())
        if abs(float(share[i]) - 0.1) > abs(worst[1] - 0.1):
            worst = (i + 1, float(share[i]))
    return worst


def score(sets: list[torch.Tensor], exact: torch.Tensor) -> dict:
    """KS of each run against ``exact`` (mean, largest), of all runs pooled, worst decile."""
    ks = [ks_distance(a, exact) for a in sets]
    pooled = torch.cat(sets)
    decile, share = worst_decile(pooled, exact)
    return {"ks_mean": sum(ks) / len(ks), "ks_max": max(ks),
            "ks_pooled": ks_distance(pooled, exact), "pooled": pooled.shape[0],
            "decile": decile, "share": share}


def iter_rows(name: str, ns: tuple[int, ...] = NS, seeds: int = SEEDS,
              methods: tuple[str, ...] = ("default (ess)",),
              pool_size: int | None = None) -> Iterator[dict]:
    """For each n: the exact row, then one row per method, each as soon as it is measured
    (the reference holds ``pool_size`` points, default the set's ``POOL``)."""
    setup = SETS[name]()
    pool = reference(setup, pool_size or POOL[name], seed=4242)["acts"]
    for n in ns:
        null = ks_null(pool, n)
        for method in (EXACT, *methods):
            yield {"set": name, "method": method, "n": n, "seeds": seeds,
                   "null_mean": null["mean"], "null_q95": null["q95"], "m": pool.shape[0],
                   **score(runs(setup, method, n, seeds), pool)}


COLUMNS = (  # (header, key, format)
    ("set", "set", ""), ("method", "method", ""), ("n", "n", "d"), ("seeds", "seeds", "d"),
    ("reference points", "m", "d"), ("KS: mean over seeds", "ks_mean", ".3f"),
    ("KS: largest", "ks_max", ".3f"), ("KS of exact sets at n: mean", "null_mean", ".3f"),
    ("KS of exact sets at n: 95%", "null_q95", ".3f"), ("KS, seeds pooled", "ks_pooled", ".4f"),
    ("its noise, ~0.87 sqrt(1/N + 1/m)", "noise", ".4f"), ("worst decile", "decile", "d"),
    ("its share", "share", ".3f"),
)


def line(row: dict) -> str:
    """One markdown row."""
    row = {**row, "noise": 0.87 * math.sqrt(1 / row["pooled"] + 1 / row["m"])}
    return "| " + " | ".join(fmt(row.get(key), spec) for _, key, spec in COLUMNS) + " |"


def header() -> str:
    """The table's two header lines."""
    return "| " + " | ".join(c[0] for c in COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def markdown(sets: tuple[str, ...] = ("logistic", "intersection")) -> str:
    """The default and the fast sampler on ``sets`` at the default n and seeds (what
    ``python -m bench`` writes)."""
    methods = ("default (ess)", "fast sampler (with remedies)")
    return "\n".join([header()] + [line(r) for name in sets
                                    for r in iter_rows(name, methods=methods)])


def main(argv: list[str] | None = None) -> None:
    """Print the table's rows as they are measured."""
    ap = argparse.ArgumentParser(prog="python -m bench.ks")
    ap.add_argument("--sets", default="logistic,intersection", help=f"of {','.join(POOL)}")
    ap.add_argument("--methods", default="ess", help=f"of {','.join(SHORT)}")
    ap.add_argument("--n", default=",".join(map(str, NS)), help="sample sizes")
    ap.add_argument("--seeds", type=int, default=SEEDS)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = tuple(SHORT[m] for m in args.methods.split(","))
    ns = tuple(int(v) for v in args.n.split(","))
    print(header(), flush=True)
    for name in args.sets.split(","):
        for row in iter_rows(name, ns, args.seeds, methods):
            print(line(row), flush=True)


if __name__ == "__main__":
    main()
