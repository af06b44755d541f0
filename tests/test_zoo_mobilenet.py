"""pipeline.zoo.mobilenet is torchvision's MobileNetV2: the same module tree, state dict and
outputs, bit for bit; the ImageNet class names shipped as a file are torchvision's."""

from __future__ import annotations

import torch
import torchvision

from pipeline.models.layers import read_layers
from pipeline.zoo.labels import imagenet_labels
from pipeline.zoo.mobilenet import MobileNetV2


def _random_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer drawn at random (BatchNorm statistics too, variances > 0)."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            value = torch.rand(value.shape, generator=gen) * 0.2 + (0.9 if "var" in name else -0.1)
        state[name] = value
    return state


def test_same_modules_and_bit_identical_outputs_as_torchvision() -> None:
    ours, theirs = MobileNetV2().eval(), torchvision.models.mobilenet_v2(weights=None).eval()
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    leaves = [[(n, repr(m)) for n, m in model.named_modules() if not list(m.children())]
              for model in (ours, theirs)]
    assert leaves[0] == leaves[1]  # same layers, same settings (strides, groups, in place)
    state = _random_state(theirs)
    ours.load_state_dict(state, strict=True)
    theirs.load_state_dict(state, strict=True)
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
        for model in (ours, theirs):
            model.to(memory_format=torch.channels_last)
        assert torch.equal(ours(x.to(memory_format=torch.channels_last)),
                           theirs(x.to(memory_format=torch.channels_last)))
    layers = ["features.3.conv.1", "features.18", "classifier.1"]
    mine, reference = read_layers(ours, layers, x), read_layers(theirs, layers, x)
    assert all(torch.equal(mine[name], reference[name]) for name in layers)


def test_imagenet_labels_are_torchvisions() -> None:
    categories = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    assert imagenet_labels() == list(categories)
