"""How a job's samples are stored: code precision, image format, compact features.

The ``output`` config section carries these settings (``output.codes``, ``output.image``,
``output.features``); they change the size of the dataset, never a job's result, so they
are not part of a job's id. See docs/dataset.md ("Size").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa
import torch

from pipeline.errors import ConfigError

CODES = ("auto", "none", "float16", "float32")
IMAGES = ("png", "webp")
# auto: codes with more values than this are stored as float16
LARGE_CODE = 1024
# The fixed random projection of the features column is drawn from this seed.
PROJECTION_SEED = 0


@dataclass(frozen=True)
class StoreFormat:
    """``codes``: auto, none, float16 or float32; ``image``: png or webp (both lossless);
    ``features``: how many dimensions of E's features to keep per sample (0: none)."""

    codes: str = "auto"
    image: str = "png"
    features: int = 64

    def __post_init__(self) -> None:
        if self.codes not in CODES:
            raise ConfigError(f"output.codes must be one of {CODES}, got {self.codes!r}")
        if self.image not in IMAGES:
            raise ConfigError(f"output.image must be one of {IMAGES}, got {self.image!r}")
        if isinstance(self.features, bool) or not isinstance(self.features, int) or (
            self.features < 0
        ):
            raise ConfigError(f"output.features must be an int >= 0, got {self.features!r}")

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> StoreFormat:
        """The format settings of an ``output`` config section (its other keys ignored)."""
        section = section or {}
        return cls(
            codes=str(section.get("codes", "auto")),
            image=str(section.get("image", "png")),
            features=section.get("features", 64),
        )

    def code_type(self, code_dim: int, image_values: int) -> pa.DataType | None:
        """The Arrow type codes of ``code_dim`` values are stored as; ``None``: not stored.

        auto: not stored when the code has at least as many values as the image (G is then a
        reparametrisation of the image, e.g. pixels or a Fourier spectrum, and the lossless
        image is the sample); float16 above :data:`LARGE_CODE` values; float32 otherwise.
        """
        if self.codes == "auto":
            if code_dim >= image_values:
                return None
            return pa.float16() if code_dim > LARGE_CODE else pa.float32()
        return {"none": None, "float16": pa.float16(), "float32": pa.float32()}[self.codes]


@lru_cache(maxsize=8)
def projection(dim: int, keep: int) -> torch.Tensor:
    """The fixed ``(dim, keep)`` Gaussian random projection (scaled by ``1/sqrt(keep)``, so
    that it preserves distances in expectation); the same for every job and machine."""
    rng = torch.Generator().manual_seed(PROJECTION_SEED)
    return torch.randn(dim, keep, generator=rng) / keep**0.5


def compact_features(features: torch.Tensor, keep: int) -> torch.Tensor | None:
    """Features ``(n, d)`` reduced to ``keep`` dimensions (as they are when ``d <= keep``);
    ``None`` when ``keep`` is 0 or there are no features."""
    if keep <= 0 or features is None or features.dim() != 2 or features.shape[1] == 0:
        return None
    features = features.detach().cpu().float()
    if features.shape[1] <= keep:
        return features
    return features @ projection(features.shape[1], keep)


def as_float16(values: torch.Tensor) -> torch.Tensor:
    """``values`` as float16, clamped to its finite range (no inf from a large value)."""
    limit = torch.finfo(torch.float16).max
    return values.detach().cpu().float().clamp(-limit, limit).half()
