"""Sample grids of each preset for docs/zoo.md: ``python -m pipeline.zoo.make_grids``.

- ``zoo-faces.png``: 16 faces G(z), z ~ N(0, I) (seed 0), at the generator's 64 px.
- ``zoo-imagenet.png``: Fourier images (64 px) at codes from their prior (seed 0): 4 at
  the preset's default scale 0.01 (flat grey), 4 at the legible setting's ``prior_std=1``.
- ``zoo-mnist.png``: row 1 ten held-out test digits (one per class), row 2 their
  reconstructions G(E(x)), row 3 G of ten random codes from its prior (uniform on its code box).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from pipeline import zoo
from pipeline.errors import exit_on_fault
from pipeline.models.generators import FourierGenerator, random_codes
from pipeline.zoo.mnist_data import digit_split
from pipeline.zoo.train_mnist import hidden_features

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> Path:
    """Save images in [0, 1] as one grid PNG with a 256-colour palette (small files for docs)."""
    grid = make_grid(images.detach().cpu().clamp(0, 1), nrow=nrow, padding=1)
    pixels = grid.mul(255).round().byte().permute(1, 2, 0).numpy()
    image = Image.fromarray(pixels).convert("RGB")
    image.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


@torch.no_grad()
def faces_grid(out: Path, cache_dir: Path | None) -> Path:
    """16 random faces."""
    preset = zoo.load("faces", cache_dir=cache_dir)
    return save_grid(
        preset.generator(random_codes(preset.generator, 16, 0)), out / "zoo-faces.png", 8
    )


@torch.no_grad()
def imagenet_grid(out: Path, cache_dir: Path | None) -> Path:
    """Fourier images from the default prior and from the legible setting's prior."""
    images = []
    for prior_std in (0.01, 1.0):
        generator = FourierGenerator(64, prior_std=prior_std)
        images.append(generator(random_codes(generator, 4, 0)))
    return save_grid(torch.cat(images), out / "zoo-imagenet.png", 8)


@torch.no_grad()
def mnist_grid(out: Path, cache_dir: Path | None) -> Path:
    """Test digits, their reconstructions, and random codes."""
    preset = zoo.load("mnist")
    split = digit_split(cache_dir)
    first = [int((split.y_test == d).nonzero()[0]) for d in range(10)]
    digits = split.x_test[first]
    recon = preset.generator(hidden_features(preset.network, digits)[1])
    samples = preset.generator(random_codes(preset.generator, 10, 0))
    return save_grid(torch.cat([digits, recon, samples]), out / "zoo-mnist.png", 10)


def main(argv: list[str] | None = None) -> None:
    """Command line: write the grids and print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS_IMG)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--only", choices=["faces", "imagenet", "mnist"], action="append")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    makers = {"faces": faces_grid, "imagenet": imagenet_grid, "mnist": mnist_grid}
    for name in args.only or list(makers):
        print(makers[name](args.out, args.cache_dir))


if __name__ == "__main__":
    with exit_on_fault():  # one ConfigError / EnvironmentFault line, exit 2 / 1
        main()
