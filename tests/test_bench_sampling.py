"""bench.sampling_profile at its smallest: every stage is timed, inside the thread's time."""

from __future__ import annotations

from bench import sampling_profile
from pipeline.sampler.explore import ExplorePhase

ORIGINAL = ExplorePhase.advance


def test_stages_inside_the_sampling_thread() -> None:
    for seconds in (sampling_profile.timed("toy", 1, 4),
                    sampling_profile.profiled("toy", 1, 4, None)[0]):
        parts = seconds["advance"] + seconds["evaluate_batch"] + seconds["finalize"]
        assert 0 < seconds["advance"] and 0 < seconds["evaluate_batch"]
        assert parts <= seconds["thread"]


def test_host_reads_are_counted_per_advance() -> None:
    reads = sampling_profile.host_reads("toy", 1, 4)
    assert set(reads) == set(sampling_profile.SYNCS)
    assert 0 < reads["tolist"] < 1  # the acceptance is read once per batch, not per advance
    assert ExplorePhase.advance is ORIGINAL  # the counting wrapper is removed
