"""The order in which a sweep's jobs are handed to the actors: the longest first.

Jobs of one sweep differ in length by 10x and more (on ``mnist`` with the default relative
bands, a job of the upper band [0.75, 1.0] takes 3-11x the evaluations of the same neuron's
[0.5, 0.75]: few random codes reach it, so its chains seed for long). Handed out in the
config's order, the long jobs that come last run alone at the end while the other actors
idle. Handed out longest first (the classic LPT rule), the short jobs fill the end.

A job's length is not known before it runs, so the order uses a guess that needs no
evaluation: a relative band lies in a rarer part of the neuron's range the further its
centre is from the middle of the range (activations of random codes bunch in the middle);
an intersection adds its bands' terms. Absolute bands give no hint (0). Only the dispatch
order changes: each job samples from its own random stream, so its result is the same in
any order or packing.
"""

from __future__ import annotations

from pipeline.runner.job import JobSpec


def rarity(job: JobSpec) -> float:
    """How far ``job``'s relative bands lie from the middle of their neurons' ranges (the sum
    of the distances of their centres from 0.5; absolute bands count 0): a guess of its
    length, larger for longer jobs."""
    return sum(abs((band.lo + band.hi) / 2 - 0.5) for band in job.bands
               if band.scale == "relative")


def longest_first(jobs: list[JobSpec]) -> list[JobSpec]:
    """``jobs`` by decreasing :func:`rarity` (ties keep their order)."""
    return sorted(jobs, key=rarity, reverse=True)
