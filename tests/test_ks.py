"""The KS of the activations: its noise floor, the default sampler against the exact law.

The logistic unit of ``bench.coverage`` (64 sigmoid pixels, band [0.6, 0.8], about 20% of
the prior) has an exact activation law that a large rejection sample gives to about 0.01.
At n = 1000 samples against it, an exact sampler's KS exceeds 1.95 / sqrt(n_eff) (the
99.9% quantile of the Kolmogorov law, n_eff = n m / (n + m)) one time in a thousand; the
fast sampler (its samples cluster around K chains, 0.12-0.26 away in KS on this set,
``bench.ks``) is far above it.
"""

from __future__ import annotations

import math

import pytest
import torch

from bench import coverage, ks
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.coverage import ks_distance, ks_null, rejection_reference

N, POOL = 1000, 20_000
KOLMOGOROV_999 = 1.95


@pytest.fixture(scope="module")
def logistic() -> tuple[coverage.Setup, torch.Tensor]:
    """The logistic unit and 20,000 exact activations of it."""
    torch.set_num_threads(1)
    setup = coverage.logistic()
    bands = [(lo, hi) for _, lo, hi in setup.constraints]
    exact = rejection_reference(setup.generator, coverage.reader(setup), bands, POOL,
                                seed=99, batch=4096)
    return setup, exact["acts"]


def threshold(n: int, m: int) -> float:
    """The 99.9% quantile of the KS between n exact points and m reference points."""
    return KOLMOGOROV_999 * math.sqrt((n + m) / (n * m))


def sample(setup: coverage.Setup, config: SamplerConfig) -> torch.Tensor:
    problem = Problem(setup.constraints, n=N, seed=0)
    result = sample_problems(setup.generator, setup.encoder, [problem], config)[0]
    assert len(result) == N
    return result.activations


def test_default_activations_follow_the_exact_law(logistic) -> None:
    setup, exact = logistic
    assert ks_distance(sample(setup, SamplerConfig(k=10)), exact) < threshold(N, POOL)


def test_the_check_fails_for_a_biased_sampler(logistic) -> None:
    setup, exact = logistic
    biased = sample(setup, SamplerConfig(k=10, method="fast"))
    assert ks_distance(biased, exact) > 2 * threshold(N, POOL)


def test_exact_draws_pass_the_check(logistic) -> None:
    setup, exact = logistic
    bands = [(lo, hi) for _, lo, hi in setup.constraints]
    fresh = rejection_reference(setup.generator, coverage.reader(setup), bands, N, seed=3)
    assert ks_distance(fresh["acts"], exact) < threshold(N, POOL)


def test_ks_null_is_the_noise_of_exact_samples() -> None:
    gen = torch.Generator().manual_seed(0)
    exact = torch.randn(4000, 1, generator=gen)
    n, m = 200, 3800
    null = ks_null(exact, n, repeats=300)
    scale = math.sqrt(n * m / (n + m))
    assert 0.7 < null["mean"] * scale < 1.0  # the Kolmogorov law's mean is 0.87
    assert null["mean"] < null["q95"] and 1.2 < null["q95"] * scale < 1.7
    shifted = torch.randn(n, 1, generator=gen) + 0.5
    assert ks_distance(shifted, exact) > null["q95"]
    assert ks_null(exact, 4000) == {"mean": None, "q95": None}


def test_bench_rows_at_toy_size() -> None:
    torch.set_num_threads(1)
    rows = list(ks.iter_rows("logistic", ns=(40,), seeds=2, pool_size=2000))
    assert [r["method"] for r in rows] == [ks.EXACT, "default (ess)"]
    for row in rows:
        assert row["pooled"] == 80 and row["m"] == 2000
        assert 0 < row["ks_mean"] <= row["ks_max"] <= 1 and 0 < row["null_mean"] < row["null_q95"]
        assert 1 <= row["decile"] <= 10
        assert len(ks.line(row).strip("| ").split(" | ")) == len(ks.COLUMNS)
