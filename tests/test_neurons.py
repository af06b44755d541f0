"""Neuron read-outs f, encoders E and the fused one-pass read-out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipeline
from pipeline.models.readout import Readout
from tests.models_for_tests import Counting, small_cnn


def test_linear_unit_matches_model_output() -> None:
    model = small_cnn()
    x = torch.rand(4, 3, 16, 16)
    f = pipeline.neuron(model, "6", 3)
    assert torch.allclose(f(x), model(x)[:, 3])


@pytest.mark.parametrize(
    ("spatial", "pick"),
    [
        ("center", lambda out: out[:, 2, 8, 8]),
        ("mean", lambda out: out[:, 2].mean(dim=(1, 2))),
        ((3, 11), lambda out: out[:, 2, 3, 11]),
    ],
)
def test_conv_unit_spatial_choices(spatial, pick) -> None:
    model = small_cnn()
    x = torch.rand(3, 3, 16, 16)
    expected = pick(model[:3](x))
    assert torch.allclose(pipeline.neuron(model, "2", 2, spatial=spatial)(x), expected)


def test_unknown_layer_names_closest() -> None:
    model = torch.nn.Sequential()
    model.add_module("features", small_cnn())
    with pytest.raises(pipeline.ConfigError, match=r"unknown layer 'features\.7'.*features\.6"):
        pipeline.neuron(model, "features.7", 0)


def test_unit_out_of_range_names_size_eagerly_and_lazily() -> None:
    model = small_cnn()
    with pytest.raises(pipeline.ConfigError, match="has 5 units"):
        pipeline.neuron(model, "6", 5)
    relu = pipeline.neuron(model, "1", 9)  # ReLU does not know its width: checked on use
    with pytest.raises(pipeline.ConfigError, match="has 8 units"):
        relu(torch.rand(1, 3, 16, 16))


def test_spatial_outside_grid() -> None:
    f = pipeline.neuron(small_cnn(), "2", 0, spatial=(16, 0))
    with pytest.raises(pipeline.ConfigError, match="outside layer '2'"):
        f(torch.rand(1, 3, 16, 16))


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_removed_after_success_and_error() -> None:
    model = small_cnn()
    pipeline.neuron(model, "2", 0)(torch.rand(2, 3, 16, 16))
    assert _hook_count(model) == 0
    with pytest.raises(RuntimeError):
        pipeline.neuron(model, "6", 0)(torch.rand(2, 5, 16, 16))  # wrong channel count
    assert _hook_count(model) == 0
    with pytest.raises(pipeline.ConfigError):
        pipeline.neuron(model, "1", 99)(torch.rand(2, 3, 16, 16))
    assert _hook_count(model) == 0


def test_several_neurons_and_encoder_share_one_forward_pass() -> None:
    net = small_cnn()
    model = Counting(net)
    fs = [
        pipeline.neuron(model, "inner.6", 1),
        pipeline.neuron(model, "inner.2", 4, spatial="mean"),
        pipeline.neuron(model, "inner.6", 1),
    ]
    enc = pipeline.encoder(model, "inner.4")
    readout = Readout(fs, enc)
    x = torch.rand(5, 3, 16, 16)
    acts, feats = readout(x)
    assert model.calls == 1
    assert readout.passes == 1
    assert acts.shape == (5, 3) and feats.shape == (5, 8)
    assert torch.allclose(acts[:, 0], net(x)[:, 1])
    assert torch.allclose(acts[:, 1], net[:3](x)[:, 4].mean(dim=(1, 2)))
    assert torch.allclose(feats, net[:5](x).mean(dim=(2, 3)))


def test_forward_stops_after_last_wanted_layer() -> None:
    net = small_cnn()
    head = Counting(net[6])
    net[6] = head
    pipeline.neuron(net, "2", 0)(torch.rand(1, 3, 16, 16))
    assert head.calls == 0


def test_model_used_in_eval_mode() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)).train()
    f = pipeline.neuron(model, "2", 0)
    x = torch.rand(8, 4)
    assert torch.equal(f(x), f(x))
    assert not model.training


def test_output_read_before_an_inplace_activation_is_not_overwritten() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))
    x = torch.randn(16, 4)
    pre = model[0](x)
    fs = [pipeline.neuron(model, "0", u) for u in range(6)] + [pipeline.neuron(model, "2", 0)]
    acts, _ = Readout(fs, None)(x)
    assert (pre < 0).any()
    assert torch.allclose(acts[:, :6], pre)
