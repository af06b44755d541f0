"""Device speed options of a sweep's network (channels_last, torch.compile): same neurons,
same values, names and hooks intact; off by default and on the driver's copy."""

from __future__ import annotations

import time

import pytest
import torch

from pipeline.runner.job import NeuronRef
from pipeline.runner.models import Models
from pipeline.sweep import compose
from pipeline.sweep.config import to_plain
from pipeline.sweep.expand import LazyModels, model_settings

TOY = {"preset": {"factory": "pipeline.runner.toy:toy_preset", "options": {"channels": 3}}}


def values(models: Models) -> torch.Tensor:
    """Two neurons (a conv channel and a logit) and E on the same random codes."""
    codes = torch.randn(6, models.generator.code_dim, generator=torch.Generator().manual_seed(0))
    x = models.generator(codes)
    refs = [NeuronRef("conv", 1, "center"), NeuronRef("fc", 2, "center")]
    return torch.cat([models.neuron(r)(x)[:, None] for r in refs] + [models.encoder(x)], dim=1)


def test_speed_options_are_off_by_default() -> None:
    plain = to_plain(compose(["preset=toy"]))
    assert plain["network"]["channels_last"] is False and plain["network"]["compile"] is False
    conv = Models(model_settings(plain)).preset.network.conv
    assert conv.weight.is_contiguous()


def test_channels_last_keeps_the_values() -> None:
    plain, fast = Models(TOY), Models({**TOY, "network": {"channels_last": True}})
    weight = fast.preset.network.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()  # the layout did change
    torch.testing.assert_close(values(fast), values(plain))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_compiled_network_keeps_names_hooks_and_values() -> None:
    plain = Models(TOY)
    fast = Models({**TOY, "network": {"compile": True}})
    names = [name for name, _ in fast.preset.network.named_modules()]
    assert names == [name for name, _ in plain.preset.network.named_modules()]
    assert fast.preset.network._compiled_call_impl is not None
    torch.testing.assert_close(values(fast), values(plain), rtol=1e-4, atol=1e-5)


def test_the_drivers_copy_stays_plain() -> None:
    plain = to_plain(compose(["preset=toy", "network.channels_last=true"]))
    lazy = LazyModels(model_settings(plain))
    assert lazy.models.preset.network.conv.weight.is_contiguous()
    worker = Models(model_settings(plain))
    assert worker.preset.network.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_gpu_utilisation_is_sampled_from_nvidia_smi(tmp_path, monkeypatch) -> None:
    from bench.gpu import Utilisation

    fake = tmp_path / "nvidia-smi"  # a stand-in: the GPU is 40% then 60% busy
    fake.write_text(f"#!/bin/sh\nn=$(cat {tmp_path}/n 2>/dev/null || echo 0)\n"
                    f"echo $((n + 1)) > {tmp_path}/n\n[ $n -eq 0 ] && echo 40 || echo 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with Utilisation("cuda") as busy:
        deadline = time.monotonic() + 30
        while len(busy.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert busy.samples[:3] == [40.0, 60.0, 60.0]
    assert 40 < busy.mean <= 60
    with Utilisation("cpu") as idle:
        pass
    assert idle.mean is None
