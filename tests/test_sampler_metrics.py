"""Priors and the code-drawing function, MCMC diagnostics, coverage metrics, SampleSet.select."""

from __future__ import annotations

import math

import pytest
import torch

import pipeline
from pipeline.errors import ConfigError
from pipeline.models.generators import code_prior, random_codes
from pipeline.models.priors import Prior, draw_codes
from pipeline.sampler.coverage import ks_distance, nn_ratio, precision_recall
from pipeline.sampler.diagnostics import effective_size, integrated_time, split_rhat


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "prior",
    [Prior.normal(2.0), Prior.uniform(-1.0, 3.0), Prior.truncated(1.0, -0.5, 2.0)],
)
def test_draws_follow_the_prior_and_the_normal_map_inverts(prior) -> None:
    codes = draw_codes(prior, 20000, 3, rng())
    assert torch.equal(codes, draw_codes(prior, 20000, 3, rng()))
    if prior.bounds:
        assert prior.inside(codes).all()
    z = torch.randn(20000, 3, generator=rng(1))
    if prior.kind == "normal":
        expected_mean, expected_var = 0.0, 4.0
    elif prior.kind == "uniform":
        expected_mean, expected_var = 1.0, 16 / 12
    else:  # truncated N(0, 1) on [a, b]: mean (phi(a) - phi(b)) / Z
        a, b = -0.5, 2.0
        phi = [math.exp(-x * x / 2) / math.sqrt(2 * math.pi) for x in (a, b)]
        big_z = 0.5 * (math.erf(b / math.sqrt(2)) - math.erf(a / math.sqrt(2)))
        expected_mean = (phi[0] - phi[1]) / big_z
        expected_var = 1 + (a * phi[0] - b * phi[1]) / big_z - expected_mean**2
    assert abs(float(codes.mean()) - expected_mean) < 0.03
    assert abs(float(codes.var()) - expected_var) < 0.05 * expected_var
    assert torch.allclose(prior.to_normal(prior.from_normal(z)), z, atol=1e-3)


def test_prior_and_contract_errors() -> None:
    with pytest.raises(ConfigError, match="box"):
        Prior("uniform")
    with pytest.raises(ConfigError, match="scale"):
        Prior.normal(0.0)
    with pytest.raises(ConfigError, match="code_dim"):
        code_prior(torch.sigmoid)
    dim, prior = code_prior(torch.sigmoid, code_dim=5)
    assert dim == 5 and prior == Prior.normal(1.0) and prior.describe() == "N(0, 1^2)"
    assert Prior.truncated(1.0, -3.0, 3.0).describe() == "N(0, 1^2) on [-3, 3]"
    assert Prior.uniform(0.0, 2.5).describe() == "U[0, 2.5]"
    faces_like = pipeline.PixelGenerator((4,))
    assert code_prior(faces_like) == (4, Prior.normal(1.0))
    codes = random_codes(faces_like, 7, 3)
    assert codes.shape == (7, 4) and torch.equal(codes, random_codes(faces_like, 7, rng(3)))


def ar1(rho: float, chains: int, length: int, seed: int = 0, shift: float = 0.0) -> list:
    gen = rng(seed)
    out = []
    for c in range(chains):
        x = torch.zeros(length, 1, dtype=torch.float64)
        x[0] = torch.randn(1, generator=gen, dtype=torch.float64)
        noise = torch.randn(length, generator=gen, dtype=torch.float64) * math.sqrt(1 - rho**2)
        for t in range(1, length):
            x[t] = rho * x[t - 1] + noise[t]
        out.append(x + shift * c)
    return out


def test_integrated_time_and_ess_of_known_chains() -> None:
    iid = ar1(0.0, 8, 500)
    assert abs(float(integrated_time(iid)[0]) - 1.0) < 0.25
    assert float(effective_size(iid)[0]) > 3000
    sticky = ar1(0.8, 8, 500)  # tau = (1 + rho) / (1 - rho) = 9
    assert 6 < float(integrated_time(sticky)[0]) < 13
    assert float(effective_size(sticky)[0]) < 700


def test_split_rhat_flags_chains_that_disagree() -> None:
    assert float(split_rhat(ar1(0.0, 6, 200))[0]) < 1.03
    assert float(split_rhat(ar1(0.0, 6, 200, shift=1.0))[0]) > 1.3


def test_precision_recall_ks_and_nn_ratio() -> None:
    a = torch.randn(300, 5, generator=rng(0))
    b = torch.randn(300, 5, generator=rng(1))
    same = precision_recall(a, b)
    assert same["precision"] > 0.5 and same["recall"] > 0.5
    far = precision_recall(a + 100, b)
    assert far == {"precision": 0.0, "recall": 0.0}
    clustered = a[:10].repeat(30, 1) + 1e-4 * b
    assert precision_recall(clustered, a)["recall"] < 0.2
    assert nn_ratio(clustered) < 0.01 < 0.3 < nn_ratio(a)
    assert ks_distance(torch.zeros(10), torch.ones(10)) == 1.0
    assert ks_distance(a[:, :1], a[:, :1]) == 0.0
    assert abs(ks_distance(torch.arange(10.0), torch.arange(5.0, 15.0)) - 0.5) < 1e-9


def test_select_keeps_rows_consistently() -> None:
    G = pipeline.PixelGenerator((8,))
    f = pipeline.neuron(torch.nn.Sequential(torch.nn.Linear(8, 1)), "0", 0)
    res = pipeline.InverseSetSampler(G, None, [(f, -10.0, 10.0)], k=2).sample(6, seed=0)
    mask = torch.tensor([True, False, True, False, False, True])
    part = res.select(mask)
    assert len(part) == 3 and part.status == res.status
    assert torch.equal(part.codes, res.codes[mask]) and torch.equal(part.inputs, res.inputs[mask])
    assert part.phase == [p for p, m in zip(res.phase, mask.tolist(), strict=True) if m]
    assert torch.equal(part.features, res.features[mask])
    with pytest.raises(ValueError, match="mask"):
        res.select(torch.ones(2, dtype=torch.bool))
