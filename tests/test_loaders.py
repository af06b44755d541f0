"""Loaders on files the tests create: cache, checksums, DeePSiM, timm, torchvision, BigGAN."""

from __future__ import annotations

import resource
import signal
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.models.layers import read_layers
from pipeline.zoo.cache import fetch_url, resolve_file, sha256_file, verify_sha256
from pipeline.zoo.checkpoints import read_state_dict
from pipeline.zoo.deepsim import DeePSiMGenerator, deepsim_body, load_deepsim
from pipeline.zoo.loaders import (
    BigGANGenerator,
    biggan_generator,
    timm_model,
    torchvision_classifier,
    torchvision_weights,
)


def random_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A random state dict with the keys and shapes of ``module``."""
    gen = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=gen) * 0.05 if v.is_floating_point() else v.clone()
        for k, v in module.state_dict().items()
    }


def truncate(path: Path) -> Path:
    """Write the first half of ``path`` next to it and return the new path."""
    cut = path.with_name("cut-" + path.name)
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return cut


# --- cache and checksums ------------------------------------------------------------


def test_verify_sha256_accepts_the_right_digest_and_rejects_others(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    digest = sha256_file(path)
    verify_sha256(path, digest.upper())
    with pytest.raises(ConfigError, match="sha256"):
        verify_sha256(path, "0" * 64)


def test_resolve_file_checks_local_paths(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc")
    assert resolve_file(path, sha256_file(path)) == path
    with pytest.raises(ConfigError, match="expected"):
        resolve_file(path, sha256_file(path)[::-1])
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_file(tmp_path / "missing.pt")


def test_fetch_url_caches_a_verified_copy_once(tmp_path):
    source = tmp_path / "src" / "model.safetensors"
    source.parent.mkdir()
    source.write_bytes(b"x" * 1000)
    digest = sha256_file(source)
    cache = tmp_path / "cache"
    first = fetch_url(source.as_uri(), digest, cache)
    assert first.parent == cache and first.read_bytes() == source.read_bytes()
    source.unlink()  # a second call must not need the source any more
    assert fetch_url(source.as_uri(), digest, cache) == first
    assert sorted(p.name for p in cache.iterdir()) == [first.name]  # no partial files left


def test_fetch_url_with_a_wrong_checksum_leaves_nothing_in_the_cache(tmp_path):
    source = tmp_path / "model.pt"
    source.write_bytes(b"y" * 100)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="sha256"):
        fetch_url(source.as_uri(), "f" * 64, cache)
    assert list(cache.iterdir()) == []
    with pytest.raises(ConfigError, match="cannot download.*pass an existing file"):
        fetch_url((tmp_path / "nope.pt").as_uri(), None, cache)


def test_a_cache_disk_refusing_writes_is_an_environment_fault(tmp_path):
    source = tmp_path / "model.pt"
    source.write_bytes(b"z" * 4096)
    cache = tmp_path / "cache"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))  # files may not grow past 1 KiB
    try:
        with pytest.raises(EnvironmentFault, match="cannot download"):
            fetch_url(source.as_uri(), None, cache)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert list(cache.iterdir()) == []  # no partial file
    assert fetch_url(source.as_uri(), None, cache).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_truncated_weight_files_raise_config_error(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    state = {"a": torch.randn(64, 64)}
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    assert torch.equal(read_state_dict(path)["a"], state["a"])
    with pytest.raises(ConfigError, match="cannot read weights"):
        read_state_dict(truncate(path))


# --- DeePSiM / upconv generators ----------------------------------------------------


def test_published_fc6_and_pool5_shapes():
    with torch.device("meta"):
        fc6, pool5 = DeePSiMGenerator("fc6"), DeePSiMGenerator("pool5")
    shapes = {k: tuple(v.shape) for k, v in fc6.body.state_dict().items()}
    assert shapes["defc7.weight"] == shapes["defc5.weight"] == (4096, 4096)
    assert shapes["deconv5.weight"] == (256, 256, 4, 4)
    assert shapes["conv5_1.weight"] == (256, 512, 3, 3)
    assert shapes["deconv0.weight"] == (32, 3, 4, 4)
    assert fc6.code_dim == 4096 and pool5.code_dim == 9216
    pool5_shapes = {k: tuple(v.shape) for k, v in pool5.body.state_dict().items()}
    assert pool5_shapes["Rconv6.weight"] == (512, 256, 3, 3)
    assert pool5_shapes["deconv5.weight"] == (512, 256, 4, 4)
    assert not any(isinstance(m, torch.nn.ReLU) for m in fc6.modules())
    slopes = {m.negative_slope for m in fc6.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.3}
    for generator in (fc6, pool5):
        out = generator(torch.zeros(2, generator.code_dim, device="meta"))
        assert tuple(out.shape) == (2, 3, 256, 256)


@pytest.mark.parametrize("arch", ["fc6", "pool5"])
def test_load_deepsim_from_files_with_checksums(tmp_path, arch):
    state = random_state(deepsim_body(arch, scale=16), seed=1)
    path = tmp_path / f"{arch}.safetensors"
    save_file({"G." + k: v for k, v in state.items()}, str(path))  # ports add a prefix
    generator = load_deepsim(arch, path, sha256_file(path), scale=16)
    assert torch.equal(generator.body.state_dict()["deconv0.weight"], state["deconv0.weight"])
    assert not generator.training
    assert not any(p.requires_grad for p in generator.parameters())
    codes = torch.rand(3, generator.code_dim, requires_grad=True)
    images = generator(codes)
    assert images.shape == (3, 3, 256, 256)
    assert images.min() >= 0 and images.max() <= 1
    images.mean().backward()
    assert codes.grad is not None and codes.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="sha256"):
        load_deepsim(arch, path, "0" * 64, scale=16)


def test_load_deepsim_from_torch_file_url_and_cache(tmp_path):
    state = random_state(deepsim_body("fc6", scale=32), seed=2)
    path = tmp_path / "fc6.pt"
    torch.save(state, path)
    cache = tmp_path / "cache"
    generator = load_deepsim("fc6", path.as_uri(), sha256_file(path), cache_dir=cache, scale=32)
    assert torch.equal(generator.body.state_dict()["defc7.bias"], state["defc7.bias"])
    assert len(list(cache.iterdir())) == 1
    with pytest.raises(ConfigError, match="cannot read weights"):
        load_deepsim("fc6", truncate(path), scale=32)


def test_deepsim_rejects_wrong_architecture_and_codes(tmp_path):
    path = tmp_path / "pool5.safetensors"
    save_file(random_state(deepsim_body("pool5", scale=32), seed=3), str(path))
    with pytest.raises(ConfigError, match="do not fit"):
        load_deepsim("fc6", path, scale=32)
    with pytest.raises(ConfigError, match="valid: fc6, pool5"):
        DeePSiMGenerator("fc7")
    with pytest.raises(ConfigError, match="shape"):
        DeePSiMGenerator("fc6", scale=32)(torch.zeros(2, 5))


def test_deepsim_output_is_caffe_bgr_plus_mean_in_rgb():
    generator = DeePSiMGenerator("fc6", scale=32)
    for module in generator.body.modules():  # a body that outputs zeros: the image is the mean
        if isinstance(module, torch.nn.ConvTranspose2d | torch.nn.Linear):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)
    pixel = generator(torch.ones(1, generator.code_dim))[0, :, 0, 0]
    assert torch.allclose(pixel * 255, torch.tensor([123.0, 117.0, 104.0]))


# --- timm, torchvision, BigGAN ------------------------------------------------------


def test_timm_model_from_a_local_checkpoint(tmp_path):
    reference = timm_model("test_efficientnet")
    state = random_state(reference, seed=4)
    path = tmp_path / "ckpt.pth"
    torch.save({"module." + k: v for k, v in state.items()}, path)
    model = timm_model("test_efficientnet", path, sha256_file(path))
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert not model.training
    with pytest.raises(ConfigError, match="sha256"):
        timm_model("test_efficientnet", path, "1" * 64)
    with pytest.raises(ConfigError, match="unknown timm model"):
        timm_model("test_efficientnot")


def test_torchvision_classifier_by_name_and_weights_enum():
    alexnet = torchvision_classifier("alexnet", weights=None)
    assert alexnet.classifier[6].out_features == 1000  # the paper's fc8
    assert not alexnet.training and not any(p.requires_grad for p in alexnet.parameters())
    weights = torchvision_weights("alexnet", "IMAGENET1K_V1")
    assert len(weights.meta["categories"]) == 1000
    assert torchvision_weights("alexnet", "DEFAULT") is weights
    x = torch.rand(2, 3, 64, 64)  # fc6 read with fc8 in one pass must stay pre-ReLU:
    fc6_alone = read_layers(alexnet, ["classifier.1"], x)["classifier.1"]
    fc6_with_fc8 = read_layers(alexnet, ["classifier.1", "classifier.6"], x)["classifier.1"]
    assert (fc6_alone < 0).any() and torch.equal(fc6_alone, fc6_with_fc8)
    with pytest.raises(ConfigError, match="alexnet"):
        torchvision_classifier("alexnett", weights=None)
    with pytest.raises(ConfigError, match="IMAGENET1K_V1"):
        torchvision_weights("alexnet", "IMAGENET1K_V9")


def test_biggan_without_the_package_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_pretrained_biggan", None)
    with pytest.raises(ConfigError, match="pip install pytorch-pretrained-biggan"):
        biggan_generator(class_index=1)


def test_biggan_wrapper_maps_codes_and_class_to_unit_range():
    class FakeBigGAN(torch.nn.Module):
        def forward(self, z, classes, truncation):
            self.seen = (classes.clone(), truncation)
            return torch.tanh(z[:, :3, None, None].expand(-1, 3, 4, 4) * 10)

    fake = FakeBigGAN()
    generator = BigGANGenerator(fake, class_index=837, truncation=0.5)
    assert generator.code_bounds == (-1.0, 1.0) and generator.init_std == 0.5
    images = generator(torch.tensor([[1.0] * 128, [-1.0] * 128]))
    assert images.shape == (2, 3, 4, 4)
    assert torch.allclose(images[0], torch.ones(3, 4, 4), atol=1e-6)
    assert torch.allclose(images[1], torch.zeros(3, 4, 4), atol=1e-6)
    classes, truncation = fake.seen
    assert truncation == 0.5 and classes.argmax(1).tolist() == [837, 837]
    assert classes.sum().item() == 2
    with pytest.raises(ConfigError, match="class_index"):
        BigGANGenerator(fake, class_index=1000)
