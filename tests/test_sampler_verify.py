"""Verification's network passes are counted: ``stats["evals_verify"]`` is the rows verified."""

from __future__ import annotations

import pytest
import torch

import pipeline
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from tests.models_for_tests import pixel_generator, small_cnn


@pytest.mark.parametrize("method", ["ess", "fast"])
def test_evals_verify_counts_the_rows_verification_runs(method: str) -> None:
    """Every row through the network is a sampling row (``evals_forward``) or a verified one
    (``evals_verify``: the kept samples and those verification dropped); G is not run again."""
    model, gen = small_cnn(), pixel_generator((3, 16, 16))
    f, encoder = pipeline.neuron(model, "6", 2), pipeline.encoder(model, "4")
    codes = torch.randn(256, gen.code_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        acts = model(gen(codes))
    lo, hi = torch.quantile(acts[:, 2], torch.tensor([0.6, 0.9])).tolist()
    rows = {"network": 0, "generator": 0}

    def counter(name: str):
        return lambda module, inputs, output: rows.__setitem__(name, rows[name] + len(output))

    hooks = [model[0].register_forward_hook(counter("network")),  # its first layer
             gen.register_forward_hook(counter("generator"))]
    try:
        results = sample_problems(gen, encoder, [Problem([(f, lo, hi)], n=12, seed=s)
                                                 for s in range(3)],
                                  SamplerConfig(k=4, method=method, budget=400, verify_batch=5))
    finally:
        for hook in hooks:
            hook.remove()
    stats = [r.stats for r in results]
    assert all(len(r) > 0 for r in results)
    assert [s["evals_verify"] for s in stats] == [len(r) + s["dropped_on_verify"]
                                                  for r, s in zip(results, stats, strict=True)]
    sampled = sum(s["evals_forward"] for s in stats)
    assert rows["generator"] == sampled  # verification does not run G
    assert rows["network"] == sampled + sum(s["evals_verify"] for s in stats)
