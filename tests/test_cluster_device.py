"""Device speed options of a sweep's G and network (channels_last, torch.compile): same
neurons, same values, names and hooks intact; channels_last on for a CPU actor by default
(``auto``), compile off; both off on the driver's copy; bad values are one clear error."""

from __future__ import annotations

import time

import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.models.speed import speed_up
from pipeline.runner.job import NeuronRef
from pipeline.runner.models import Models
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sweep import compose, expand
from pipeline.sweep.config import to_plain
from pipeline.sweep.expand import LazyModels, model_settings
from pipeline.sweep.preflight import preflight

TOY = {"preset": {"factory": "pipeline.runner.toy:toy_preset", "options": {"channels": 3}}}


def values(models: Models) -> torch.Tensor:
    """Two neurons (a conv channel and a logit) and E on the same random codes."""
    codes = torch.randn(6, models.generator.code_dim, generator=torch.Generator().manual_seed(0))
    x = models.generator(codes)
    refs = [NeuronRef("conv", 1, "center"), NeuronRef("fc", 2, "center")]
    return torch.cat([models.neuron(r)(x)[:, None] for r in refs] + [models.encoder(x)], dim=1)


def test_channels_last_is_auto_and_on_for_a_cpu_actor_compile_off() -> None:
    plain = to_plain(compose(["preset=mnist"]))
    for group in ("network", "generator"):
        assert plain[group]["channels_last"] == "auto" and plain[group]["compile"] is False
    models = Models(model_settings(plain))  # the mnist preset: conv layers in G and in f
    for module in (models.generator, models.preset.network):
        weights = [p for p in module.parameters() if p.dim() == 4]
        assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
        assert not all(w.is_contiguous() for w in weights)  # the layout did change


@pytest.mark.parametrize("group", ["network", "generator"])
def test_channels_last_false_keeps_the_layout(group: str) -> None:
    plain = to_plain(compose(["preset=mnist", f"{group}.channels_last=false"]))
    models = Models(model_settings(plain))
    module = models.generator if group == "generator" else models.preset.network
    other = models.preset.network if group == "generator" else models.generator
    assert all(p.is_contiguous() for p in module.parameters())
    assert any(
        p.dim() == 4 and not p.is_contiguous() for p in other.parameters()
    )  # the other group keeps auto: channels-last on this CPU


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("generator.channels_last=yes", "generator.channels_last must be true, false or auto"),
        ("network.channels_last=1", "network.channels_last: Value '1' of type 'int' is incomp"),
        ("generator.compile=auto", "generator.compile: Value 'auto' is not a valid bool"),
    ],
)
def test_a_bad_speed_option_is_one_clear_error_before_anything_runs(
    setting: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:  # the command line's checks, then the expansion
        preflight(["preset=toy", setting])
        expand(compose(["preset=toy", setting]))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"channels_last": "yes"}, "generator.channels_last must be true, false or auto"),
        ({"channels_last": 1}, "generator.channels_last must be true, false or auto"),
        ({"compile": "auto"}, "generator.compile must be true or false"),
    ],
)
def test_models_refuse_a_bad_speed_option_given_as_a_plain_dict(section, message) -> None:
    model = {**TOY, "generator": {"kind": "preset", **section}}
    with pytest.raises(ConfigError, match=message):
        Models(model)
    with pytest.raises(ConfigError, match=message):
        Models(model, fast=False)  # the driver's copy refuses it too


def test_compile_without_a_cpp_compiler_is_one_clear_error() -> None:
    from torch._inductor import config

    compile_g = {**TOY, "generator": {"kind": "preset", "compile": True}}
    with config.patch({"cpp.cxx": ("no-such-c++-compiler",)}):  # a machine without one
        with pytest.raises(ConfigError, match="network.compile=true on a CPU needs a C.. comp"):
            Models({**TOY, "network": {"compile": True}})
        with pytest.raises(ConfigError, match="generator.compile=true on a CPU needs a C.. co"):
            Models(compile_g)


def test_compile_of_a_plain_callable_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="generator.compile=true needs a torch.nn.Module"):
        speed_up(lambda codes: codes, compile=True, group="generator")


def test_channels_last_keeps_the_values() -> None:
    off = {"channels_last": False}
    plain = Models({**TOY, "network": off, "generator": off})
    fast = Models({**TOY, "network": {"channels_last": True}})
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
    plain = to_plain(compose(["preset=mnist"]))
    lazy = LazyModels(model_settings(plain))
    assert all(p.is_contiguous() for p in lazy.models.preset.network.parameters())
    assert all(p.is_contiguous() for p in lazy.models.generator.parameters())
    worker = Models(model_settings(plain))
    assert worker.preset.network.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not worker.generator.body.conv1.weight.is_contiguous()


def test_gpu_utilisation_is_sampled_from_nvidia_smi(tmp_path, monkeypatch) -> None:
    from bench.gpu_measure import Utilisation

    fake = tmp_path / "nvidia-smi"  # a stand-in: the GPU is 40% then 60% busy
    fake.write_text(f"#!/bin/sh\nn=$(cat {tmp_path}/n 2>/dev/null || echo 0)\n"
                    f"echo $((n + 1)) > {tmp_path}/n\n[ $n -eq 0 ] && echo 40 || echo 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with Utilisation(torch.device("cuda")) as busy:
        deadline = time.monotonic() + 30
        while len(busy.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert busy.samples[:3] == [40.0, 60.0, 60.0]
    assert 40 < busy.mean <= 60
    with Utilisation(torch.device("cpu")) as idle:
        pass
    assert idle.mean is None


def test_channels_last_samples_lie_in_band_under_the_plain_layout_too() -> None:
    """A job sampled with G and f in channels-last (the CPU default) gives samples that the
    contiguous-layout models, float32 eager, also find in band: the layout moves only the
    last bits of the activations (compared below), never a sample out of its band."""
    plain = model_settings(to_plain(compose(["preset=mnist"])))
    fast = Models(plain)
    off = {"channels_last": False}
    slow = Models({**plain, "network": {**plain["network"], **off},
                   "generator": {**plain["generator"], **off}})
    ref = NeuronRef("fc7", 3, "center")
    codes = torch.rand(64, fast.generator.code_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        seen = slow.neuron(ref)(slow.generator(codes))
        lo, hi = (float(q) for q in seen.quantile(torch.tensor([0.5, 0.9])))
    config = SamplerConfig(k=10, quantize=True)
    problem = Problem([(fast.neuron(ref), lo, hi)], n=20, seed=0)
    [result] = sample_problems(fast.generator, fast.encoder, [problem], config)
    assert len(result) == 20 and bool(result.in_band.all())
    with torch.no_grad():
        again = slow.neuron(ref)(result.inputs)
        torch.testing.assert_close(fast.neuron(ref)(result.inputs), again, rtol=1e-4, atol=1e-4)
    assert bool(((again >= lo) & (again <= hi)).all())


def test_the_generator_schema_holds_every_argument_of_the_built_in_generators() -> None:
    import dataclasses
    import inspect

    from pipeline.models.generators import FourierGenerator, PixelGenerator
    from pipeline.sweep.schema import GeneratorSchema

    fields = {f.name for f in dataclasses.fields(GeneratorSchema)}
    for cls in (PixelGenerator, FourierGenerator):
        assert set(inspect.signature(cls).parameters) <= fields
    plain = to_plain(compose(["preset=toy", "generator=fourier", "generator.size=8",
                              "generator.decorrelate=false", "generator.channels=1"]))
    assert plain["generator"]["shape"] is None  # a pixel argument, unused by this kind
    generator = Models(model_settings(plain)).generator
    assert isinstance(generator, FourierGenerator) and not generator.decorrelate
    assert generator(torch.zeros(2, generator.code_dim)).shape == (2, 1, 8, 8)
