"""The sampler's bookkeeping done once for many rows equals the per-row work it replaced."""

from __future__ import annotations

import pytest
import torch

import pipeline
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.diagnostics import autocorrelation
from pipeline.sampler.sampleset import Collector
from tests.models_for_tests import logistic_unit, pixel_generator


@pytest.fixture(scope="module")
def unit():
    model, _, _ = logistic_unit()
    return pixel_generator((64,)), pipeline.neuron(model, "2", 0)


def test_collector_takes_a_label_per_row_and_chains_as_a_list() -> None:
    collector = Collector()
    collector.add(torch.zeros(1, 3), torch.zeros(1, 2), "seed", 0, torch.tensor([4]))
    collector.add(torch.ones(3, 3), torch.ones(3, 2), ["prior", "ess", "prior"], 7, [2, 0, 5])
    out = collector.tensors(10, 3, (2,))
    assert out["phase"] == ["seed", "prior", "ess", "prior"]
    assert out["chain"].tolist() == [4, 2, 0, 5] and out["step"].tolist() == [0, 7, 7, 7]
    assert out["codes"].shape == (4, 3) and float(out["codes"][1:].min()) == 1.0


@pytest.mark.parametrize("n", [5, 7, 13])
def test_kept_rows_keep_their_own_code_and_input_and_stop_at_n(unit, n) -> None:
    """Kept states are gathered once per iteration: each stored input is G of its stored
    code, and a job whose n is reached in the middle of an iteration keeps exactly n."""
    G, f = unit
    cfg = SamplerConfig(k=4)
    result = sample_problems(G, None, [Problem([(f, 0.3, 0.7)], n=n, seed=3)], cfg)[0]
    assert len(result) == n
    assert torch.equal(G(result.codes), result.inputs)
    assert set(result.phase) <= {"prior", "ess"} and "prior" in result.phase
    assert 0 <= int(result.chain.min()) and int(result.chain.max()) < cfg.k
    steps = result.step.tolist()
    assert steps == sorted(steps)


def per_chain_autocorrelation(chains: list[torch.Tensor], max_lag: int | None) -> torch.Tensor:
    """The pooled autocorrelation accumulated one chain at a time (the former code)."""
    chains = [c.double() for c in chains if c.shape[0] >= 4]
    longest = max(c.shape[0] for c in chains)
    lags = min(max_lag or longest, longest)
    mean = torch.cat(chains).mean(dim=0)
    num = torch.zeros(lags, chains[0].shape[1], dtype=torch.float64)
    pairs = torch.zeros(lags, 1, dtype=torch.float64)
    for chain in chains:
        x = chain - mean
        size = 1 << (2 * x.shape[0] - 1).bit_length()
        spec = torch.fft.rfft(x, n=size, dim=0)
        cov = torch.fft.irfft(spec * spec.conj(), n=size, dim=0)[: x.shape[0]]
        used = min(lags, x.shape[0])
        num[:used] += cov[:used]
        pairs[:used, 0] += torch.arange(x.shape[0], x.shape[0] - used, -1, dtype=torch.float64)
    cov = num / pairs.clamp(min=1)
    return cov / cov[:1].clamp(min=1e-300)


def test_pooled_autocorrelation_equals_the_per_chain_sums_bit_for_bit() -> None:
    gen = torch.Generator().manual_seed(1)
    for case in range(150):
        count, series = (int(v) for v in torch.randint(1, 12, (2,), generator=gen))
        lengths = torch.randint(1, 200, (count,), generator=gen).tolist()
        if max(lengths) < 4:
            continue
        chains = [torch.randn(n, series, generator=gen).cumsum(0) for n in lengths]
        max_lag = None if case % 3 else int(torch.randint(1, 50, (1,), generator=gen))
        assert torch.equal(autocorrelation(chains, max_lag),
                           per_chain_autocorrelation(chains, max_lag))
