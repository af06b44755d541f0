"""The readout looks its layers up once and leaves no hooks; the engine builds a new
readout exactly when its active jobs (so their neurons) change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipeline
import pipeline.sampler.engine as engine
from pipeline.models.readout import Readout
from pipeline.sampler import Problem, SamplerConfig, iter_problems
from tests.models_for_tests import logistic_unit, pixel_generator, small_cnn


def hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


class Walks(nn.Sequential):
    """A Sequential that counts the walks over its modules (the layer look-ups)."""

    walks = 0

    def named_modules(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        Walks.walks += 1
        return super().named_modules(*args, **kwargs)


def test_layers_looked_up_once_and_no_hook_left() -> None:
    model = Walks(*small_cnn())
    fs = [pipeline.neuron(model, "2", 1), pipeline.neuron(model, "6", 3)]
    readout = Readout(fs)
    Walks.walks = 0
    x = torch.rand(2, 3, 16, 16)
    first, _ = readout(x)
    second, _ = readout(x)
    assert Walks.walks == 1  # at the first call, not again
    assert torch.equal(first, second) and torch.allclose(second[:, 1], model(x)[:, 3])
    assert hooks(model) == 0


def test_no_hook_left_when_the_forward_fails() -> None:
    model = small_cnn()
    readout = Readout([pipeline.neuron(model, "6", 0)])
    readout(torch.rand(1, 3, 16, 16))
    with pytest.raises(RuntimeError):
        readout(torch.rand(1, 5, 16, 16))  # wrong channel count: the first conv fails
    assert hooks(model) == 0


def test_engine_rebuilds_the_readout_and_bands_when_the_active_jobs_change(monkeypatch) -> None:
    model, _, _ = logistic_unit()
    G = pixel_generator((64,))
    fs = [pipeline.neuron(model, "2", 0), pipeline.neuron(model, "1", 0)]
    bands = [(0.3, 0.7), (-1.0, 1.0), (0.6, 0.8), (-0.5, 0.5)]
    problems = [Problem([(fs[i % 2], *bands[i])], n=6 + 4 * i, seed=i) for i in range(4)]
    built, seen, kept = [], [], []
    original = engine.evaluate_batch

    def spy(generator, readout, batch, quantise, transform, bands):  # noqa: ANN001, ANN202
        wanted = [c[0] for job, _ in batch for c in job.problem.constraints]
        seen.append((readout, tuple(id(job.problem) for job, _ in batch)))
        kept.append(bands)
        assert readout.probes == wanted
        assert torch.equal(bands.lo[:, 0], torch.cat([job.lo.expand(4) for job, _ in batch]))
        return original(generator, readout, batch, quantise, transform, bands)

    class Built(Readout):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(engine, "evaluate_batch", spy)
    monkeypatch.setattr(engine, "Readout", Built)
    out = dict(iter_problems(G, None, problems, SamplerConfig(k=4), slots=8))
    assert sorted(out) == [0, 1, 2, 3]
    sets = [jobs for i, (_, jobs) in enumerate(seen) if i == 0 or jobs != seen[i - 1][1]]
    assert len(sets) > 2 and len(built) == len(sets)  # jobs entered and left: one per set
    for (a, jobs_a), (b, jobs_b) in zip(seen, seen[1:], strict=False):
        assert (a is b) == (jobs_a == jobs_b)
    for (_, jobs_a), (_, jobs_b), c, d in zip(seen, seen[1:], kept, kept[1:], strict=False):
        assert (c is d) == (jobs_a == jobs_b)  # the rows' bands: kept with the same jobs
