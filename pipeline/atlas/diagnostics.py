"""The sampler's diagnostics of an entry's bands, summarised for the index, with a legend.

Read from each job record's ``stats`` JSON when present (older datasets lack some keys:
their columns show ``-``). One number per entry: the worst band for R-hat, ESS and edge
share, the mean for evaluations per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUSES = ("done", "partial", "infeasible", "failed")


@dataclass(frozen=True)
class Diagnostic:
    """One index column: where it comes from, how bands combine, and what a good value is."""

    key: str  # the column's key in the index data
    heading: str
    stat: str  # the key in the job's stats JSON (or record column)
    combine: str  # "max", "min" or "mean" over the entry's reached bands
    good: str  # the legend: what a good value is


DIAGNOSTICS = (
    Diagnostic("rhat", "R-hat", "rhat", "max",
               "R-hat of the chains (worst band): near 1 (below 1.1) means the chains agree; "
               "above 1.1, sample longer"),
    Diagnostic("ess", "ESS", "ess", "min",
               "effective sample size (worst band): close to the samples stored is best; "
               "far below it means correlated samples"),
    Diagnostic("evals", "evals/sample", "evals_per_sample", "mean",
               "network evaluations per stored sample (mean over bands): lower is cheaper"),
    Diagnostic("edge", "edge share", "edge_share", "max",
               "coverage: share of samples within 1% of a band edge (worst band); about 0.02 "
               "for samples spread over the band, much more means they pile up at an edge"),
)


def _value(job: Any, stat: str) -> float | None:
    value = job.stats.get(stat)
    if value is None and stat in job.record:
        value = job.record[stat]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _combine(values: list[float], how: str) -> float | None:
    if not values:
        return None
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return sum(values) / len(values)


def diagnostics(jobs: list[Any]) -> dict[str, float | None]:
    """The index's diagnostic values of an entry's jobs (``None`` when no band has one)."""
    reached = [job for job in jobs if job.reached]
    out = {}
    for d in DIAGNOSTICS:
        values = [v for job in reached if (v := _value(job, d.stat)) is not None]
        out[d.key] = _combine(values, d.combine)
    return out


def status_counts(jobs: list[Any]) -> dict[str, int]:
    """How many of the jobs ended in each status (unknown statuses count as failed)."""
    counts = dict.fromkeys(STATUSES, 0)
    for job in jobs:
        counts[job.status if job.status in counts else "failed"] += 1
    return counts
