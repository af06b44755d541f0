"""bench.identity: the same seeds give the same fingerprint, and any changed value changes it."""

from __future__ import annotations

import torch

from bench import identity


def test_same_seeds_same_digest_and_a_changed_value_shows() -> None:
    first = identity.run_case("toy", 2, 6, ["sampler.k=4"])
    again = identity.run_case("toy", 2, 6, ["sampler.k=4"])
    assert len(first) == 4 and all(len(r) > 0 for r in first)
    assert identity.digest(first) == identity.digest(again)
    first[1].codes[0, 0] = torch.nextafter(first[1].codes[0, 0], torch.tensor(float("inf")))
    assert identity.digest(first) != identity.digest(again)
    first[1].codes[0, 0] = again[1].codes[0, 0]
    first[2].stats["evals_forward"] += 1
    assert identity.digest(first) != identity.digest(again)
