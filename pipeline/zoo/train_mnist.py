"""Retrain the ``mnist`` preset's weights deterministically: ``python -m pipeline.zoo.train_mnist``.

1. The classifier (``digit_classifier``) on the 4,000 training digits (cross-entropy, Adam).
2. The feature inverter G: relu6 features -> image, trained as DeePSiM is, with a pixel
   loss, a feature loss (the classifier's pool2 and relu6 of G(c) against those of x) and
   an adversarial loss from a critic that sees (image, code) pairs.
Writes ``mnist_classifier.safetensors``, ``mnist_generator.safetensors`` and ``mnist.json``
(test accuracy, reconstruction figures, checksums) into ``--out``. Same seed, same thread
count, same torch build -> the same files.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from pipeline.errors import exit_on_fault
from pipeline.zoo.assets import MNIST_5K
from pipeline.zoo.cache import sha256_file
from pipeline.zoo.mnist_data import DigitSplit, digit_split
from pipeline.zoo.mnist_models import FeatureInverter, PairCritic, digit_classifier

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class TrainConfig:
    """Settings of one training run (all stored in ``mnist.json``)."""

    seed: int = 0
    classifier_epochs: int = 16
    generator_epochs: int = 20
    batch_size: int = 64
    pixel_weight: float = 1.0
    feature_weight: float = 1.0
    adversarial_weight: float = 0.02
    limit: int | None = None  # use only the first `limit` training digits (for quick tests)


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Index batches of one shuffled epoch."""
    return list(torch.randperm(n, generator=generator).split(batch_size))


def hidden_features(classifier: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The classifier's pool2 maps and relu6 vectors (the feature-loss targets and the codes)."""
    pool2 = classifier[:6](x)
    return pool2, classifier[6:9](pool2)


def train_classifier(split: DigitSplit, config: TrainConfig) -> nn.Sequential:
    """Fit the CNN on the training digits; returns it in eval mode."""
    torch.manual_seed(config.seed)
    model = digit_classifier()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(config.seed)
    model.train()
    for _ in range(config.classifier_epochs):
        for idx in batches(len(split.y_train), config.batch_size, order):
            loss = F.cross_entropy(model(split.x_train[idx]), split.y_train[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def train_generator(
    classifier: nn.Sequential, split: DigitSplit, config: TrainConfig
) -> FeatureInverter:
    """Fit G on (relu6 code, digit) pairs of the training set with pixel+feature+GAN losses."""
    classifier.requires_grad_(False)
    with torch.no_grad():
        pool2_real, codes = hidden_features(classifier, split.x_train)
    torch.manual_seed(config.seed + 1)
    generator = FeatureInverter(code_max=codes.max().item(), init_std=codes.std().item())
    critic = PairCritic()
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.999))
    scale_pool2 = pool2_real.pow(2).mean()
    scale_code = codes.pow(2).mean()
    order = torch.Generator().manual_seed(config.seed + 2)
    for _ in range(config.generator_epochs):
        for idx in batches(len(codes), config.batch_size, order):
            real, code = split.x_train[idx], codes[idx]
            fake = generator(code)
            real_logit, fake_logit = critic(real, code), critic(fake.detach(), code)
            loss_d = F.binary_cross_entropy_with_logits(
                real_logit, torch.ones_like(real_logit)
            ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            pool2_fake, code_fake = hidden_features(classifier, fake)
            adv_logit = critic(fake, code)
            loss_g = (
                config.pixel_weight * F.mse_loss(fake, real)
                + config.feature_weight
                * (
                    F.mse_loss(pool2_fake, pool2_real[idx]) / scale_pool2
                    + F.mse_loss(code_fake, code) / scale_code
                )
                + config.adversarial_weight
                * F.binary_cross_entropy_with_logits(adv_logit, torch.ones_like(adv_logit))
            )
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
    return generator.eval()


@torch.no_grad()
def evaluate(
    classifier: nn.Sequential, generator: FeatureInverter, split: DigitSplit
) -> dict[str, float]:
    """Test accuracy of the classifier, and of it on G's reconstructions G(E(x)) of test digits."""
    classifier.eval()
    generator.eval()
    logits = classifier(split.x_test)
    _, codes = hidden_features(classifier, split.x_test)
    recon = generator(codes)
    return {
        "test_accuracy": (logits.argmax(1) == split.y_test).float().mean().item(),
        "train_accuracy": (classifier(split.x_train).argmax(1) == split.y_train)
        .float()
        .mean()
        .item(),
        "reconstruction_accuracy": (classifier(recon).argmax(1) == split.y_test)
        .float()
        .mean()
        .item(),
        "reconstruction_mse": F.mse_loss(recon, split.x_test).item(),
        "test_size": len(split.y_test),
        "train_size": len(split.y_train),
    }


def train(config: TrainConfig, split: DigitSplit) -> tuple[nn.Sequential, FeatureInverter]:
    """Both stages, with deterministic algorithms switched on for the duration."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        if config.limit is not None:
            split = DigitSplit(
                split.x_train[: config.limit],
                split.y_train[: config.limit],
                split.x_test,
                split.y_test,
            )
        classifier = train_classifier(split, config)
        return classifier, train_generator(classifier, split, config)
    finally:
        torch.use_deterministic_algorithms(previous)


def save(classifier: nn.Sequential, generator: FeatureInverter, out: Path, report: dict) -> dict:
    """Write both safetensors files and ``mnist.json``; returns the report with checksums."""
    out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in classifier.state_dict().items()},
        str(out / "mnist_classifier.safetensors"),
    )
    # No safetensors metadata: its key order is not stable, which would change the bytes.
    # The generator's code bounds and init_std go into mnist.json instead.
    save_file(
        {k: v.contiguous() for k, v in generator.state_dict().items()},
        str(out / "mnist_generator.safetensors"),
    )
    report["sha256"] = {
        name: sha256_file(out / name)
        for name in ("mnist_classifier.safetensors", "mnist_generator.safetensors")
    }
    (out / "mnist.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> None:
    """Command line: train, evaluate, save, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPU threads; results are reproducible for a fixed count",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier-epochs", type=int, default=TrainConfig.classifier_epochs)
    parser.add_argument("--generator-epochs", type=int, default=TrainConfig.generator_epochs)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig(
        seed=args.seed,
        classifier_epochs=args.classifier_epochs,
        generator_epochs=args.generator_epochs,
    )
    start = time.perf_counter()
    split = digit_split(args.cache_dir)
    classifier, generator = train(config, split)
    report = {
        "metrics": evaluate(classifier, generator, split),
        "code_bounds": list(generator.code_bounds),
        "init_std": generator.init_std,
        "config": asdict(config),
        "threads": args.threads,
        "torch": torch.__version__,
        "data": {
            "package": MNIST_5K.package,
            "version": MNIST_5K.version,
            "file": MNIST_5K.member,
            "sha256": MNIST_5K.sha256,
        },
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(save(classifier, generator, args.out, report), indent=2))


if __name__ == "__main__":
    with exit_on_fault():  # one ConfigError / EnvironmentFault line, exit 2 / 1
        main()
