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

The queue is then dealt out like cards (:func:`deal`): one job to each actor in turn, so
that the long jobs at its front spread over the actors instead of all going to the first
actor that asks (which, starting a few milliseconds before the others, used to take the
``jobs_per_batch`` + ahead longest jobs of the sweep: on `mnist` 16 jobs, 6 of the 8
upper-band jobs on one actor, which then ran 17 s after the other had ended). An actor still
starting keeps its turns: its jobs stay at the front of the queue for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pipeline.runner.job import JobSpec

T = TypeVar("T")


def rarity(job: JobSpec) -> float:
    """How far ``job``'s relative bands lie from the middle of their neurons' ranges (the sum
    of the distances of their centres from 0.5; absolute bands count 0): a guess of its
    length, larger for longer jobs."""
    return sum(abs((band.lo + band.hi) / 2 - 0.5) for band in job.bands
               if band.scale == "relative")


def longest_first(jobs: list[JobSpec]) -> list[JobSpec]:
    """``jobs`` by decreasing :func:`rarity` (ties keep their order)."""
    return sorted(jobs, key=rarity, reverse=True)


def deal(items: Sequence[T], wants: Sequence[int]) -> list[list[T]]:
    """Deal ``items`` (in order) one at a time to hands in turn, hand ``i`` taking up to
    ``wants[i]`` (a full hand is skipped); stop when every hand is full. Returns the hands;
    the items in none are left over, in their order."""
    hands: list[list[T]] = [[] for _ in wants]
    seat = 0
    for item in items:
        open_seats = [i for i, want in enumerate(wants) if len(hands[i]) < want]
        if not open_seats:
            break
        seat = min(open_seats, key=lambda i: (i - seat) % len(wants))
        hands[seat].append(item)
        seat += 1
    return hands
