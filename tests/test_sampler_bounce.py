"""Reflective elliptical HMC (``kernel="bounce"``): exact far in the prior's tail, reversible,
counted honestly, and cheaper than elliptical slice sampling on thin bands."""

from __future__ import annotations

import math

import pytest
import torch

from bench.bounce import linear_unit, sample, truncated_ks
from pipeline.errors import ConfigError
from pipeline.models.priors import Prior
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.bounce import IDLE, BounceKernel

D = 100


def test_far_tail_linear_band_matches_the_exact_law() -> None:
    """w.z ~ N(0, 1) truncated to [10, 11] (prior mass 1e-23: no rejection sampler can
    check this), the orthogonal part N(0, I)."""
    b = 10.0
    res, w = sample(D, b, "bounce", n=150, budget=1000)
    assert res.status == "done" and len(res) == 150 and res.in_band.all()
    x = res.codes @ w
    assert truncated_ks(x, b, b + 1) < 0.12
    orth = res.codes - x[:, None] * w
    assert 0.85 < float(orth.var(dim=0).mean()) < 1.15
    directions = torch.randn(D, 5, generator=torch.Generator().manual_seed(1))
    directions -= w[:, None] * (w @ directions)[None]
    proj = orth @ (directions / directions.norm(dim=0))
    assert (proj.abs().mean(dim=0) - math.sqrt(2 / math.pi)).abs().max() < 0.15
    assert res.stats["rhat"] < 1.1 and res.stats["reflections"] > 0
    assert set(res.phase) == {"bounce"}


def test_done_on_a_thin_band_where_slice_sampling_runs_out() -> None:
    """Same band, seed and budget: slice sampling's ellipses stay in band only for angles
    ~1/b, so its IAT grows like b^2 and the budget ends first; the bounce kernel finishes."""
    outcomes = {kernel: sample(D, 5.0, kernel, n=100, budget=190)[0] for kernel in ("slice",
                                                                                     "bounce")}
    assert outcomes["slice"].status == "partial" and len(outcomes["slice"]) < 100
    assert outcomes["bounce"].status == "done" and len(outcomes["bounce"]) == 100
    assert outcomes["bounce"].stats["iat_transitions"] < 20
    assert outcomes["slice"].stats["iat_transitions"] > 40


def _curved(c: torch.Tensor) -> torch.Tensor:
    return c[:, 0] + 0.2 * c[:, 1] ** 2 + 0.3 * torch.sin(c[:, 2])


def _run(kernel: BounceKernel, lo: float, hi: float) -> int:
    """Drive launched trajectories to their endpoints as the engine would (a forward per
    evaluation, a gradient where the kernel asks); the number of reflections."""
    lo_t, hi_t = torch.tensor([lo]), torch.tensor([hi])
    while bool((kernel.stage != IDLE).any()):
        codes = kernel.proposals().requires_grad_(True)
        acts = _curved(codes)[:, None]
        loss = kernel.loss(acts, hi_t - lo_t)
        grad = torch.zeros_like(codes)
        if loss.requires_grad:
            grad = torch.autograd.grad(loss, codes)[0]
        view = type("View", (), {"acts": acts.detach(), "grad": grad,
                                 "finite": torch.ones(len(codes), dtype=torch.bool)})
        ok = ((view.acts >= lo_t) & (view.acts <= hi_t)).all(dim=1)
        kernel.observe(kernel.stage != IDLE, ok, view, lo_t, hi_t)
    return kernel.counts["reflections"]


def test_trajectory_is_reversible_and_keeps_the_energy() -> None:
    """F S^L F = S^-L on a curved band with reflections: running the endpoint back with
    the momentum flipped returns to the start, and |z|^2 + |v|^2 is unchanged."""
    gen = torch.Generator().manual_seed(0)
    chains, dim, lo, hi = 6, 8, 3.0, 3.5
    z = torch.randn(chains, dim, generator=gen)
    z[:, 0] = 3.2 - 0.2 * z[:, 1] ** 2 - 0.3 * torch.sin(z[:, 2])
    v = torch.randn(chains, dim, generator=gen)
    h, steps = torch.full((chains,), 0.15), torch.full((chains,), 12)
    kernel = BounceKernel(Prior.normal(1.0), chains, dim, gen, torch.device("cpu"))
    rows = torch.arange(chains)
    kernel.launch(rows, z, v, h, steps)
    assert _run(kernel, lo, hi) > 0
    z1, v1 = kernel.z.clone(), kernel.v.clone()
    energy = (z**2).sum(1) + (v**2).sum(1)
    assert torch.allclose((z1**2).sum(1) + (v1**2).sum(1), energy, rtol=1e-4)
    assert not torch.allclose(z1, z, atol=0.1)
    kernel.launch(rows, z1, -v1, h, steps)
    _run(kernel, lo, hi)
    assert torch.allclose(kernel.z, z, atol=1e-4) and torch.allclose(kernel.v, -v, atol=1e-4)


def test_evaluations_are_counted() -> None:
    """Every forward row of the network while sampling is in evals_forward (verification
    aside), every backward row in evals_backward, reflections included."""
    model, _ = linear_unit(D)
    rows = {"forward": 0, "backward": 0}
    model.register_forward_hook(lambda m, i, o: rows.__setitem__("forward",
                                                                  rows["forward"] + len(o)))
    model.register_full_backward_hook(
        lambda m, gi, go: rows.__setitem__("backward", rows["backward"] + len(go[0])))
    res = sample_problems(lambda c: c, None, [Problem([(model, 5.0, 6.0)], n=20, seed=0)],
                          SamplerConfig(k=5, kernel="bounce", budget=1000), code_dim=D,
                          prior=Prior.normal(1.0))[0]
    st = res.stats
    assert res.status == "done"
    assert rows["forward"] == st["evals_forward"] + len(res) + st["dropped_on_verify"]
    assert rows["backward"] == st["evals_backward"]
    assert st["evals_backward"] >= st["reflections"] > 0
    spent = st["evals_forward"] + 2 * st["evals_backward"]
    assert st["evals_per_sample"] == spent / len(res)


def test_unknown_kernel_is_refused() -> None:
    with pytest.raises(ConfigError, match="kernel must be one of"):
        SamplerConfig(kernel="hmc")
    with pytest.raises(ConfigError, match="bounce_step must be positive"):
        SamplerConfig(kernel="bounce", bounce_step=0.0)
