"""The ``mnist`` preset: this project's digit CNN and its feature-inverting generator."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pipeline.errors import ConfigError
from pipeline.models.priors import Prior
from pipeline.zoo.cache import verify_sha256
from pipeline.zoo.checkpoints import freeze, load_into, read_state_dict
from pipeline.zoo.labels import digit_labels
from pipeline.zoo.mnist_models import FeatureInverter, digit_classifier
from pipeline.zoo.preset import Preset

WEIGHTS_DIR = Path(__file__).parent / "weights"


RESTORE = (
    "the mnist weights ship with the code: restore them (git checkout -- pipeline/zoo/weights, "
    "or reinstall) or retrain them with `make zoo`"
)


def mnist_report(weights_dir: str | Path = WEIGHTS_DIR) -> dict:
    """The training report ``mnist.json`` (metrics, code bounds, checksums, settings)."""
    path = Path(weights_dir) / "mnist.json"
    if not path.is_file():
        raise ConfigError(f"{path} is missing; {RESTORE}")
    return json.loads(path.read_text())


def build_mnist(
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    weights_dir: str | Path = WEIGHTS_DIR,
) -> Preset:
    """The ``mnist`` preset from the shipped safetensors (checked against ``mnist.json``).

    ``cache_dir`` is unused (the weights ship with the code); it is accepted so that every
    preset takes the same arguments.
    """
    weights_dir = Path(weights_dir)
    report = mnist_report(weights_dir)
    paths = {name: weights_dir / name for name in report["sha256"]}
    for name, path in paths.items():
        verify_sha256(path, report["sha256"][name], fix=RESTORE)
    classifier_path = paths["mnist_classifier.safetensors"]
    generator_path = paths["mnist_generator.safetensors"]
    classifier = load_into(
        digit_classifier(), read_state_dict(classifier_path), str(classifier_path)
    )
    generator = FeatureInverter(code_max=report["code_bounds"][1], init_std=report["init_std"])
    generator.prior = Prior.uniform(*generator.code_bounds)  # the code box, uniformly
    load_into(generator, read_state_dict(generator_path), str(generator_path))
    accuracy = report["metrics"]["test_accuracy"]
    return Preset(
        name="mnist",
        generator=freeze(generator).to(device),
        network=freeze(classifier).to(device),
        preprocess=None,
        encoder_layer="relu6",
        output_layer="fc7",
        labels=digit_labels(),
        description=(
            "feature inverter G (relu6 features, 128-d, >= 0 -> 28x28 digit) -> digit CNN "
            f"(test accuracy {accuracy:.3f} on 1,000 held-out digits); no glue: G emits "
            "[0, 1] images at the CNN's 28 px; E = relu6 (the code space of G); neurons: "
            "the 10 logits of fc7"
        ),
        encoder_pool="flatten",
        info={"report": report, "weights_dir": str(weights_dir)},
    )
