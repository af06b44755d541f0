"""``seed_step="normal"``: seeds by normalised gradient steps in the prior's normal
coordinates, which stay near the prior's scale where Adam's per-coordinate steps do not."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.tail import Identity
from pipeline.errors import ConfigError
from pipeline.models.priors import Prior
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.explore import ExplorePhase
from pipeline.sampler.normalstep import NormalStep

DIM = 500


def test_step_moves_along_the_gradient_in_z_by_its_length():
    prior = Prior.normal(0.01)
    codes = torch.randn(3, DIM, generator=torch.Generator().manual_seed(0)) * 0.01
    grad = torch.randn(3, DIM, generator=torch.Generator().manual_seed(1))
    rows = torch.tensor([True, True, False])
    out = NormalStep(prior, 0.1).step(codes, grad, rows)
    move = prior.to_normal(out) - prior.to_normal(codes)
    assert torch.allclose(move[:2].norm(dim=1), torch.full((2,), 0.1 * math.sqrt(DIM)), rtol=1e-4)
    cos = torch.nn.functional.cosine_similarity(-move[:2], grad[:2] * 0.01, dim=1)
    assert (cos > 0.9999).all()
    assert torch.equal(out[2], codes[2])


def test_step_keeps_a_box_prior_inside_its_box():
    prior = Prior.uniform(0.0, 1.0)
    codes = torch.rand(4, DIM, generator=torch.Generator().manual_seed(0))
    out = NormalStep(prior, 2.0).step(codes, -torch.ones(4, DIM))
    assert bool(((out >= 0) & (out <= 1)).all()) and bool((out > codes).all())


def _seed_norms(seed_step: str, monkeypatch) -> tuple[torch.Tensor, object]:
    """Seeds' |z| as they reach the band, and the job, on a unit with decaying weights."""
    w = 1.0 / torch.arange(1.0, DIM + 1)
    w = w / w.norm()
    seeds: list[torch.Tensor] = []
    begin = ExplorePhase._begin

    def note(phase, view, rows, exact):
        if not exact and rows:  # rows: the chains' indices
            seeds.append(phase.codes[rows].norm(dim=1))
        begin(phase, view, rows, exact)

    monkeypatch.setattr(ExplorePhase, "_begin", note)
    G: nn.Module = Identity(DIM)
    config = SamplerConfig(k=5, seed_step=seed_step, seed_step_size=0.02, budget=150)
    res = sample_problems(G, None, [Problem([(lambda x: x @ w, 5.0, 6.0)], n=20, seed=0)],
                          config)[0]
    return torch.cat(seeds), res


def test_normal_seeds_stay_near_the_prior_scale_and_only_draws_are_kept(monkeypatch):
    """Adam moves every coordinate: its seeds sit far outside the prior's shell sqrt(d)."""
    normal, res = _seed_norms("normal", monkeypatch)
    adam, _ = _seed_norms("adam", monkeypatch)
    shell = math.sqrt(DIM)
    assert float(normal.max()) < 1.1 * shell < float(adam.min())
    assert len(res) > 0  # slice sampling at b = 5 is slow: partial at this budget
    acts = res.activations.flatten()
    assert bool(((acts >= 5.0) & (acts <= 6.0)).all())
    assert set(res.phase) <= {"prior", "ess"}


def test_unknown_seed_step_is_a_config_error():
    with pytest.raises(ConfigError, match="seed_step"):
        SamplerConfig(seed_step="sgd")
    with pytest.raises(ConfigError, match="seed_step_size"):
        SamplerConfig(seed_step_size=0.0)
