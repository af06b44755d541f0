"""The subspace-split kernel (``subspace="on"``) on far-tail bands with a known exact law."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.tail import Identity, directions, truncated_ks
from pipeline.errors import ConfigError
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.explore import ExplorePhase
from pipeline.sampler.subspace import SubspaceKernel, SubspacePhase, orthonormal

DIM = 200


def _linear(dim: int = DIM) -> tuple[nn.Module, torch.Tensor, object]:
    w, _ = directions(dim)
    return Identity(dim), w, lambda x: x @ w


def test_far_tail_linear_band_matches_the_truncated_normal():
    """w.z ~ N(0, 1) truncated to [10, 11] (rejection: 1 in 1e23), the rest N(0, I)."""
    G, w, f = _linear()
    res = sample_problems(G, None, [Problem([(f, 10.0, 11.0)], n=200, seed=0)],
                          SamplerConfig(k=10, subspace="on", budget=400))[0]
    assert res.status == "done" and len(res) == 200
    along = res.codes @ w
    assert truncated_ks(along, 10.0, 11.0) < 0.12
    # a kernel ignoring the Gaussian along the line would spread w.z over the band
    assert float((along < 10.2).float().mean()) > 0.75
    rest = res.codes - along[:, None] * w
    probes = torch.linalg.qr(torch.randn(DIM, 3, generator=torch.Generator().manual_seed(1)))[0]
    probes = probes - w[:, None] * (w @ probes)[None]
    values = rest @ probes / probes.norm(dim=0)
    assert (values.mean(dim=0).abs() < 0.3).all()
    assert ((values.std(dim=0) - 1).abs() < 0.2).all()


def test_thin_band_done_where_elliptical_slice_sampling_runs_out():
    """Same budget: today's kernel ends partial on the far-tail band, the new one done."""
    G, _, f = _linear()
    out = {}
    for mode in ("off", "on"):
        config = SamplerConfig(k=10, subspace=mode, budget=60)
        out[mode] = sample_problems(G, None, [Problem([(f, 10.0, 11.0)], n=50, seed=0)],
                                    config)[0]
    assert out["off"].status == "partial" and len(out["off"]) < 50
    assert out["on"].status == "done" and len(out["on"]) == 50
    assert out["on"].stats["thin"] < out["off"].stats["thin"]


def test_basis_is_frozen_before_any_slice_sample_is_kept(monkeypatch):
    """Every chain's U when it keeps a slice sample is its final U, and it is frozen."""
    G, w, f = _linear()
    seen: list = []
    keep = SubspacePhase._keep

    def spy(self, i, label):
        seen.append((self, i, label, self.kernel.bases[i].clone(), self.kernel.frozen[i]))
        keep(self, i, label)

    monkeypatch.setattr(SubspacePhase, "_keep", spy)
    sample_problems(G, None, [Problem([(f, 6.0, 7.0)], n=40, seed=2)],
                    SamplerConfig(k=5, subspace="on", budget=400))
    slice_kept = [s for s in seen if s[2] == "ess"]
    assert slice_kept
    for phase, i, _, basis, frozen in slice_kept:
        assert frozen
        assert torch.equal(basis, phase.kernel.bases[i])
        # the basis found the band's normal: |cos(U, w)| ~ 1
        assert float((basis.T @ w).norm()) > 0.99


def test_evaluations_with_a_backward_are_counted():
    """The basis' gradients are backward evaluations, counted like the seeds'."""
    G, _, f = _linear()
    rows = {"grad": 0}

    def counting(x):
        if torch.is_grad_enabled() and x.requires_grad:
            rows["grad"] += x.shape[0]
        return f(x)

    captured: list = []
    report = SubspacePhase._report

    def spy(self):
        captured.append(self)
        report(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SubspacePhase, "_report", spy)
        res = sample_problems(G, None, [Problem([(counting, 8.0, 9.0)], n=30, seed=1)],
                              SamplerConfig(k=4, subspace="on", budget=400))[0]
    grads = sum(len(g) for g in captured[0].kernel.grads)
    assert grads >= 4
    assert res.stats["evals_backward"] == rows["grad"]
    spent = res.stats["evals_forward"] + 2 * res.stats["evals_backward"]
    assert res.stats["evals_per_sample"] == pytest.approx(spent / len(res))


def test_orthonormal_drops_dependent_columns():
    a = torch.randn(50, 1)
    basis = orthonormal(torch.cat([a, 2 * a, torch.randn(50, 1)], dim=1), 3)
    assert torch.allclose(basis[:, :2].T @ basis[:, :2], torch.eye(2), atol=1e-5)
    assert float(basis[:, 2].abs().max()) == 0.0


def test_unknown_subspace_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="subspace"):
        SamplerConfig(subspace="yes")


def test_auto_splits_only_where_no_independence_proposals_are_made(monkeypatch):
    """auto: the line sampler runs where r = 0 (q-hat < 1%), and never where independence
    proposals are made (forced here: one per transition on the same far-tail band), while
    "on" splits there too."""
    G, _, f = _linear()
    lines: list[int] = []
    start = SubspaceKernel._start_line

    def spy(self, i):
        lines.append(i)
        start(self, i)

    monkeypatch.setattr(SubspaceKernel, "_start_line", spy)
    problem = Problem([(f, 8.0, 9.0)], n=10, seed=0)
    sample_problems(G, None, [problem], SamplerConfig(k=4, subspace="auto", budget=400))
    assert lines

    def one_try(self):
        self.indep = 1
        return 1

    monkeypatch.setattr(ExplorePhase, "_independence_tries", one_try)
    counts = {}
    for mode in ("auto", "on"):
        lines.clear()
        sample_problems(G, None, [problem], SamplerConfig(k=4, subspace=mode, budget=100))
        counts[mode] = len(lines)
    assert counts["auto"] == 0 < counts["on"]


def test_subspace_with_the_bounce_kernel_is_a_config_error():
    with pytest.raises(ConfigError, match="kernel='slice'"):
        SamplerConfig(subspace="on", kernel="bounce")
