"""The engine's contract: packing with slots, a queue-backed problem source, gradient-free rows."""

from __future__ import annotations

from collections import deque

import pytest
import torch

import pipeline
from pipeline.errors import ConfigError
from pipeline.sampler import Problem, SamplerConfig, iter_problems, sample_problems
from tests.models_for_tests import logistic_unit, pixel_generator

BANDS = [(0.6, 0.8), (0.2, 0.4), (0.45, 0.55), (0.3, 0.7)]


@pytest.fixture(scope="module")
def unit():
    model, _, _ = logistic_unit()
    return pixel_generator((64,)), pipeline.neuron(model, "2", 0)


def problems(f, count: int = 4) -> list[Problem]:
    return [Problem([(f, *BANDS[i % 4])], n=12 + 3 * i, seed=i) for i in range(count)]


class LateQueue:
    """An iterator over a queue that is refilled later: it raises StopIteration while empty,
    and a problem is added each time it has been asked ``every`` times."""

    def __init__(self, items: list[Problem], every: int = 3) -> None:
        self.later, self.queue, self.every, self.asked = deque(items), deque(), every, 0
        self.queue.append(self.later.popleft())

    def __iter__(self) -> LateQueue:
        return self

    def __next__(self) -> Problem:
        self.asked += 1
        if self.later and self.asked % self.every == 0:
            self.queue.append(self.later.popleft())
        if not self.queue:
            raise StopIteration
        return self.queue.popleft()


@pytest.mark.parametrize("method", ["fast", "ess"])
def test_slots_and_late_problems_give_the_unpacked_results(unit, method) -> None:
    G, f = unit
    cfg = SamplerConfig(k=4, method=method)
    alone = [sample_problems(G, None, [p], cfg)[0] for p in problems(f)]
    source = LateQueue(problems(f))
    inflight: list[int] = []
    results = dict(
        iter_problems(G, None, source, cfg, slots=8, progress=lambda d, w: inflight.append(w))
    )
    assert sorted(results) == [0, 1, 2, 3] and source.asked > 4  # asked again after a stop
    for i, result in results.items():
        assert torch.allclose(result.codes, alone[i].codes, atol=1e-5)
        assert result.stats["evals_forward"] == alone[i].stats["evals_forward"]
    together = dict(iter_problems(G, None, problems(f), cfg))
    for i, result in together.items():
        assert torch.allclose(result.codes, alone[i].codes, atol=1e-5)


def test_slots_bound_the_chains_in_flight(unit) -> None:
    G, f = unit
    sizes: list[int] = []
    original = pipeline.sampler.engine.evaluate_batch

    def spy(generator, readout, batch, quantise, transform, bands):
        sizes.append(sum(job.phase.codes.shape[0] for job, _ in batch))
        return original(generator, readout, batch, quantise, transform, bands)

    pipeline.sampler.engine.evaluate_batch = spy
    try:
        out = list(iter_problems(G, None, problems(f), SamplerConfig(k=4), slots=8))
    finally:
        pipeline.sampler.engine.evaluate_batch = original
    assert len(out) == 4 and max(sizes) == 8 and min(sizes) == 4
    with pytest.raises(ConfigError, match="slots"):
        list(iter_problems(G, None, problems(f), slots=0))


def test_exploration_rows_take_no_backward(unit) -> None:
    G, f = unit
    res = sample_problems(G, None, [Problem([(f, 0.3, 0.7)], n=40, seed=0)],
                          SamplerConfig(k=4, method="ess"))[0]
    assert len(res) == 40 and res.status == "done"
    assert res.stats["evals_backward"] == 0 < res.stats["evals_forward"]
    fast = sample_problems(G, None, [Problem([(f, 0.3, 0.7)], n=40, seed=0)],
                           SamplerConfig(k=4, method="fast"))[0]
    assert fast.stats["evals_backward"] == fast.stats["evals_forward"] > 0


def test_plain_callable_needs_code_dim(unit) -> None:
    _, f = unit

    def squash(codes: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(codes)

    with pytest.raises(ConfigError, match="code_dim"):
        pipeline.InverseSetSampler(squash, None, [(f, 0.3, 0.7)], k=4).sample(8)
    res = pipeline.InverseSetSampler(squash, None, [(f, 0.3, 0.7)], k=4, code_dim=64).sample(8)
    assert len(res) == 8 and res.in_band.all()
