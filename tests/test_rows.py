"""Passes at a few row counts (the GPU's padding and chunking), checked on the CPU by
forcing it on: outputs and gradients are the unpadded ones, and the modules only ever see
bucket sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipeline
import pipeline.models.rows as rows_module
from pipeline.models.rows import CHUNK, bucket, padded_call
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.job import JobState
from tests.models_for_tests import small_cnn


class Shapes(nn.Module):
    """Wraps a module and records the row count of every call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.shape[0])
        return self.inner(x)


def test_bucket_sizes() -> None:
    assert [bucket(n) for n in (0, 1, 8, 9, 100, 512, 513, CHUNK)] == [
        8, 8, 8, 16, 128, 512, 1024, CHUNK]


@pytest.mark.parametrize("n", [1, 5, 300, CHUNK + 37])
def test_padded_call_matches_and_sees_buckets(n: int) -> None:
    net = Shapes(small_cnn().eval())
    x = torch.rand(n, 3, 16, 16, requires_grad=True)
    want = net(x)
    (want_grad,) = torch.autograd.grad(want[:, 0].sum(), x)
    net.seen.clear()
    got = padded_call(net, x, pad=True)
    (got_grad,) = torch.autograd.grad(got[:, 0].sum(), x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-5, atol=1e-6)
    assert all(s == bucket(s) for s in net.seen) and sum(net.seen) >= n
    assert max(net.seen) <= CHUNK


def test_padded_call_tuples_and_none() -> None:
    def two(x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return x * 2, None

    x = torch.arange(CHUNK + 3, dtype=torch.float32)[:, None]
    doubled, nothing = padded_call(two, x, pad=True)
    assert nothing is None and torch.equal(doubled, x * 2)
    assert padded_call(two, x[:0], pad=True)[0].shape == (0, 1)


def test_padded_call_is_off_on_the_cpu_by_default() -> None:
    net = Shapes(nn.Identity())
    padded_call(net, torch.zeros(5, 2))
    assert net.seen == [5]


def test_sampler_with_padding_forced_stays_in_band(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = Shapes(pipeline.PixelGenerator((3, 16, 16)))
    cnn = small_cnn().eval()
    f = pipeline.neuron(cnn, "6", 0)
    with torch.no_grad():
        start = cnn(generator(torch.randn(256, generator.inner.code_dim)))[:, 0]
    lo, hi = (float(q) for q in torch.quantile(start, torch.tensor([0.6, 0.9])))
    monkeypatch.setattr(rows_module, "pads", lambda device: True)
    pixels = generator.inner
    res = sample_problems(generator, None, [Problem([(f, lo, hi)], n=20, seed=s) for s in (0, 1)],
                          SamplerConfig(k=5), code_dim=pixels.code_dim, prior=pixels.prior)
    assert all(len(r) == 20 and bool(r.in_band.all()) for r in res)
    assert generator.seen and all(s == bucket(s) for s in generator.seen)
    with torch.no_grad():
        acts = cnn(res[0].inputs)[:, 0]
    assert bool(((acts >= lo - 1e-4) & (acts <= hi + 1e-4)).all())


def test_cpu_jobs_draw_large_values_from_their_one_stream() -> None:
    problem = Problem([(lambda x: x.sum(1), 0.0, 1.0)], n=1, seed=3)
    job = JobState(problem, SamplerConfig(), torch.device("cpu"), 4,
                   pipeline.PixelGenerator((4,)).prior)
    assert job.draws is job.rng  # one stream on the CPU: results as before this option
