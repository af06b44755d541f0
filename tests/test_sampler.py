"""The sampler on problems whose inverse set is known."""

from __future__ import annotations

import pytest
import torch

import pipeline
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from tests.models_for_tests import logistic_unit, logit, pixel_generator, small_cnn

LO, HI = 0.6, 0.8


def analytic_in_band(inputs: torch.Tensor, w: torch.Tensor, c: float) -> torch.Tensor:
    """Membership in the inverse set computed by hand: x in [0,1]^d and the half-space slab."""
    z = inputs.flatten(1).double() @ w.double() + c
    inside_cube = ((inputs >= 0) & (inputs <= 1)).flatten(1).all(dim=1)
    return inside_cube & (z >= logit(LO)) & (z <= logit(HI))


@pytest.fixture(scope="module")
def logistic():
    model, w, c = logistic_unit()
    return model, w, c, pixel_generator((64,)), pipeline.neuron(model, "2", 0)


@pytest.fixture(scope="module")
def runs(logistic):
    """n = 500, K = 10: the fast sampler, its no-diversity variant and the paper-literal one."""
    model, w, c, G, f = logistic
    paper = SamplerConfig.paper().to_dict()
    settings = {
        "fast": {"method": "fast"},
        "no_diversity": {"method": "fast", "diversity": "none"},
        "paper": paper,
        "paper_no_diversity": {**paper, "diversity": "none"},
    }
    out = {}
    for name, kw in settings.items():
        kw = {k: v for k, v in kw.items() if k != "k"}
        out[name] = pipeline.InverseSetSampler(G, None, [(f, LO, HI)], k=10, **kw).sample(
            500, seed=0
        )
    return out


def test_fast_samples_are_feasible_distinct_and_verified(logistic, runs) -> None:
    _, w, c, _, f = logistic
    res = runs["fast"]
    assert len(res) == 500 and res.feasible
    assert analytic_in_band(res.inputs, w, c).all()
    assert torch.allclose(f(res.inputs), res.activations[:, 0])
    assert res.stats["feasibility"] == 1.0 and res.in_band.all()
    assert res.stats["distinct"] and res.stats["duplicates"] == 0
    assert res.codes.shape == (500, 64) and res.inputs.shape == (500, 64)
    assert res.phase.count("seed") == 10 and set(res.phase) == {"seed", "sample"}
    for key in ("seed_steps", "sample_steps", "outer_iterations", "wall_seconds", "mu"):
        assert key in res.stats
    assert res.stats["sample_steps"] >= 49  # 490 samples / 10 chains


def test_activations_spread_over_the_band(runs) -> None:
    res = runs["fast"]
    hist = res.stats["histogram"][0]
    assert res.stats["edge_share"] < 0.05
    assert sum(hist[:5]) >= 0.25 * 500 and sum(hist[5:]) >= 0.25 * 500
    assert sum(1 for count in hist if count > 0) >= 8


def test_less_redundant_than_no_diversity_and_paper_literal(runs) -> None:
    ours = runs["fast"].stats["redundancy"]
    assert ours > 10 * runs["paper_no_diversity"].stats["redundancy"]
    assert ours > 10 * runs["paper"].stats["redundancy"]
    assert runs["paper_no_diversity"].stats["duplicates"] >= 0
    # with the method's remedies the no-diversity variant is measured, not assumed worse
    assert runs["no_diversity"].stats["feasibility"] == 1.0


def test_same_initial_code_collapses_without_diversity(logistic) -> None:
    """Paper figure 8: all chains from one code; eq. 14 (no D) against eq. 5 (with D)."""
    _, _, _, G, f = logistic
    common = dict(SamplerConfig.paper().to_dict(), same_init=True)
    common.pop("k")
    with_d = pipeline.InverseSetSampler(G, None, [(f, LO, HI)], k=10, **common).sample(100, seed=3)
    without = pipeline.InverseSetSampler(
        G, None, [(f, LO, HI)], k=10, **{**common, "diversity": "none"}
    ).sample(100, seed=3)
    assert with_d.stats["mean_pairwise"] > 3 * without.stats["mean_pairwise"]


def test_intersection_of_two_units() -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    G = pixel_generator((32,))
    f1, f2 = pipeline.neuron(model, "1", 0), pipeline.neuron(model, "1", 1)
    res = pipeline.InverseSetSampler(G, None, [(f1, 0.0, 0.3), (f2, -0.2, 0.1)], k=8).sample(
        80, seed=1
    )
    out = model(res.inputs)
    assert len(res) == 80 and res.activations.shape == (80, 2)
    assert (
        (out[:, 0] >= 0.0) & (out[:, 0] <= 0.3) & (out[:, 1] >= -0.2) & (out[:, 1] <= 0.1)
    ).all()


@pytest.mark.parametrize("spatial", ["center", "mean", (1, 2)])
def test_conv_neuron_with_encoder(spatial) -> None:
    model = small_cnn()
    G = pixel_generator((3, 16, 16))
    f = pipeline.neuron(model, "2", 3, spatial=spatial)
    E = pipeline.encoder(model, "4")
    x = G(torch.randn(64, 3 * 16 * 16))
    lo, hi = torch.quantile(f(x), torch.tensor([0.6, 0.9])).tolist()
    res = pipeline.InverseSetSampler(G, E, [(f, lo, hi)], k=6, quantize=True).sample(24, seed=0)
    assert len(res) == 24 and res.feasible
    values = f(res.inputs)
    assert ((values >= lo) & (values <= hi)).all()
    assert torch.equal(res.inputs, (res.inputs * 255).round() / 255)
    assert res.features.shape == (24, 8)


def test_unreachable_band_ends_infeasible_with_best_activation(logistic) -> None:
    _, _, _, G, f = logistic
    sampler = pipeline.InverseSetSampler(G, None, [(f, 1.5, 2.0)], k=4, max_seed_steps=60)
    res = sampler.sample(10, seed=0)  # a sigmoid never reaches 1.5
    assert not res.feasible and len(res) == 0
    assert res.stats["status"] == "infeasible" and res.stats["seed_steps"] == 60
    assert 0.9 < res.stats["best_activations"][0] <= 1.0


def test_same_seed_same_result_and_packing_does_not_change_it(logistic) -> None:
    _, _, _, G, f = logistic
    cfg = SamplerConfig(k=5)
    alone = sample_problems(G, None, [Problem([(f, LO, HI)], n=30, seed=7)], cfg)[0]
    again = sample_problems(G, None, [Problem([(f, LO, HI)], n=30, seed=7)], cfg)[0]
    packed = sample_problems(
        G,
        None,
        [Problem([(f, 0.2, 0.4)], n=20, seed=1), Problem([(f, LO, HI)], n=30, seed=7)],
        cfg,
    )[1]
    assert torch.equal(alone.codes, again.codes)
    assert torch.allclose(alone.codes, packed.codes, atol=1e-5)
    assert alone.stats["sample_steps"] == packed.stats["sample_steps"]


@pytest.mark.parametrize("method", ["joint", "multistart", "langevin"])
def test_variants_report_verified_membership(logistic, method) -> None:
    _, w, c, G, f = logistic
    res = pipeline.InverseSetSampler(
        G, None, [(f, LO, HI)], k=5, method=method, am_steps=30
    ).sample(20, seed=0)
    assert len(res) > 0
    assert torch.equal(res.in_band, analytic_in_band(res.inputs, w, c))
    if method == "joint":
        assert res.in_band.all() and len(res) == 20


@pytest.mark.parametrize("method", ["fast", "ess"])
def test_dead_chains_are_reseeded(logistic, method) -> None:
    """Codes drawn far out saturate the sigmoid (zero gradient); they are restarted."""
    _, w, c, G, f = logistic
    res = pipeline.InverseSetSampler(
        G, None, [(f, LO, HI)], k=6, init_std=40.0, method=method
    ).sample(12)
    # ess: the prior is N(0, 40^2) then, whose saturated draws hit the band by themselves
    assert res.stats["reseeded"] > 0 or (method == "ess" and res.phase.count("prior") > 0)
    assert len(res) == 12 and analytic_in_band(res.inputs, w, c).all()


def test_code_space_diversity_runs(logistic) -> None:
    _, w, c, G, f = logistic
    res = pipeline.InverseSetSampler(G, None, [(f, LO, HI)], k=5, diversity="code").sample(30)
    assert len(res) == 30 and analytic_in_band(res.inputs, w, c).all()


def test_fourier_generator_with_transforms() -> None:
    model = small_cnn()
    G = pipeline.FourierGenerator(16)
    f = pipeline.neuron(model, "6", 2)
    x = G(torch.randn(64, G.code_dim) * G.prior.scale * 20)
    lo, hi = torch.quantile(f(x), torch.tensor([0.5, 0.9])).tolist()
    sampler = pipeline.InverseSetSampler(
        G,
        None,
        [(f, lo, hi)],
        k=4,
        transform=pipeline.RandomTransforms(jitter=2, scales=(1.0, 1.1)),
    )
    res = sampler.sample(12, seed=0)
    assert len(res) == 12 and res.inputs.shape == (12, 3, 16, 16)
    values = f(res.inputs)
    assert ((values >= lo) & (values <= hi)).all()


class Flaky(torch.nn.Module):
    """A model whose first chain turns NaN or inf every few calls."""

    def __init__(self, inner: torch.nn.Module, every: int = 5) -> None:
        super().__init__()
        self.inner, self.every, self.calls = inner, every, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls % self.every == 0 and x.shape[0] > 1:
            bad = torch.full_like(x[:1], float("nan") if self.calls % 2 else float("inf"))
            x = torch.cat([bad, x[1:]])
        return self.inner(x)


@pytest.mark.parametrize("method", ["ess", "fast", "langevin", "multistart"])
def test_nan_and_inf_reset_the_chain_not_the_job(logistic, method) -> None:
    model, w, c, G, _ = logistic
    flaky = Flaky(model)
    f = pipeline.neuron(flaky, "inner.2", 0)
    sampler = pipeline.InverseSetSampler(G, None, [(f, LO, HI)], k=5, method=method, am_steps=20)
    res = sampler.sample(40, seed=2)
    assert res.stats["reset"] > 0
    assert torch.isfinite(res.activations).all() or method == "multistart"
    if method in ("fast", "ess"):
        assert len(res) == 40 and analytic_in_band(res.inputs, w, c).all()
