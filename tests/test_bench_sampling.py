"""bench.sampling_profile at its smallest: every stage is timed, inside the thread's time."""

from __future__ import annotations

from bench import sampling_profile


def test_stages_inside_the_sampling_thread() -> None:
    for seconds in (sampling_profile.timed("toy", 1, 4),
                    sampling_profile.profiled("toy", 1, 4, None)[0]):
        parts = seconds["advance"] + seconds["evaluate_batch"] + seconds["finalize"]
        assert 0 < seconds["advance"] and 0 < seconds["evaluate_batch"]
        assert parts <= seconds["thread"]
