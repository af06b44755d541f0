"""``precision="bf16-seeds"``: the seed phase's gradient steps run under bf16 autocast, and
every band check that decides a seed or a sample reads a float32 forward pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipeline
from pipeline.errors import ConfigError


class Recorder(nn.Module):
    """Passes its input through; records, per call, whether gradients and autocast were on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.is_grad_enabled(), torch.is_autocast_enabled("cpu")))
        return x


def _sample(precision: str) -> tuple[pipeline.SampleSet, list[tuple[bool, bool]], object]:
    torch.manual_seed(0)
    recorder = Recorder()
    model = nn.Sequential(recorder, nn.Flatten(), nn.Linear(64, 1), nn.Sigmoid())
    f = pipeline.neuron(model, "3", 0)
    sampler = pipeline.InverseSetSampler(pipeline.PixelGenerator((64,)), None,
                                         [(f, 0.7, 0.75)], k=8, method="fast",
                                         precision=precision)
    return sampler.sample(16, seed=0), recorder.calls, f


def test_bf16_seeds_autocast_only_the_seed_gradient_steps() -> None:
    result, calls, f = _sample("bf16-seeds")
    assert result.status in ("done", "partial") and len(result.inputs) > 0
    acts = f(result.inputs.float())
    assert ((acts >= 0.7) & (acts <= 0.75)).all()  # every sample in band in float32
    assert (True, True) in calls  # seed gradient steps under autocast
    assert (False, True) not in calls  # no band check under autocast
    assert (True, False) in calls  # the fast phase's gradient steps stay float32
    _, plain, _ = _sample("float32")
    assert not any(autocast for _, autocast in plain)


def test_unknown_precision_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="precision must be one of") as err:
        pipeline.SamplerConfig(precision="fp8")
    assert "\n" not in str(err.value)
