"""Every bad input to the sampler API gives one clear ConfigError line."""

from __future__ import annotations

import math

import pytest
import torch

import pipeline
from tests.models_for_tests import logistic_unit, pixel_generator

MODEL, _, _ = logistic_unit(d=8)
G = pixel_generator((8,))
F = pipeline.neuron(MODEL, "2", 0)


def one_line_error(match: str, call) -> None:
    with pytest.raises(pipeline.ConfigError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ((0.8, 0.6), "lo must be below hi"),
        ((0.5, 0.5), "lo must be below hi"),
        ((math.nan, 0.6), "finite"),
        ((0.1, math.inf), "finite"),
        ((None, 0.6), "both bounds are required"),
    ],
)
def test_bad_bands(bounds, match) -> None:
    one_line_error(match, lambda: pipeline.InverseSetSampler(G, None, [(F, *bounds)], k=2))


def test_unknown_layer_and_unit_out_of_range() -> None:
    one_line_error(
        r"unknown layer 'lin'.*closest valid names", lambda: pipeline.neuron(MODEL, "lin", 0)
    )
    one_line_error(
        r"out of range.*1 units \(valid 0\.\.0\)", lambda: pipeline.neuron(MODEL, "1", 1)
    )
    one_line_error("non-negative int", lambda: pipeline.neuron(MODEL, "1", -1))


def test_n_below_k_for_the_fast_sampler() -> None:  # its k chains each give a sample
    sampler = pipeline.InverseSetSampler(G, None, [(F, 0.6, 0.8)], k=10, method="fast")
    one_line_error("n = 5 is below k = 10", lambda: sampler.sample(5))


def test_unknown_setting_and_bad_choices() -> None:
    one_line_error(
        "unknown sampler settings",
        lambda: pipeline.InverseSetSampler(G, None, [(F, 0, 1)], stepsize=1),
    )
    one_line_error("method must be one of", lambda: pipeline.SamplerConfig(method="mcmc"))
    one_line_error("diversity must be one of", lambda: pipeline.SamplerConfig(diversity="pixels"))
    one_line_error("spatial must be", lambda: pipeline.neuron(MODEL, "1", 0, spatial="corner"))
    one_line_error("pool must be", lambda: pipeline.encoder(MODEL, "1", pool="max"))


def test_empty_constraints_and_bad_generator() -> None:
    one_line_error("at least one constraint", lambda: pipeline.InverseSetSampler(G, None, [], k=2))
    bare = torch.nn.Sigmoid()
    sampler = pipeline.InverseSetSampler(bare, None, [(F, 0.6, 0.8)], k=2)
    one_line_error("code_dim", lambda: sampler.sample(4))
