"""Inputs in [0, 1] <-> 8-bit PNG or WebP bytes (both lossless for inputs already quantised
to 8 bits)."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from pipeline.errors import ConfigError

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def to_bytes8(inputs: torch.Tensor) -> np.ndarray:
    """Images ``(n, C, H, W)`` in [0, 1] as ``(n, H, W, C)`` uint8 (round to nearest)."""
    if inputs.dim() != 4 or inputs.shape[1] not in _MODES:
        raise ConfigError(
            f"the store keeps images (n, C, H, W) with C in {sorted(_MODES)}; got inputs of shape "
            f"{tuple(inputs.shape)}: use an image generator"
        )
    pixels = (inputs.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def encode_images(inputs: torch.Tensor, image_format: str = "png") -> list[bytes]:
    """One image file per image of a batch ``(n, C, H, W)`` in [0, 1]: ``png`` or lossless
    ``webp`` (smaller; WebP has no gray mode, so gray images stay PNG)."""
    pixels = to_bytes8(inputs)
    out = []
    for image in pixels:
        buffer = io.BytesIO()
        array = image[:, :, 0] if image.shape[2] == 1 else image
        if image_format == "webp" and image.shape[2] > 1:
            Image.fromarray(array).save(
                buffer, format="WEBP", lossless=True, exact=True, quality=100, method=4
            )
        else:
            Image.fromarray(array).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def encode_png(inputs: torch.Tensor) -> list[bytes]:
    """One PNG per image of a batch ``(n, C, H, W)`` in [0, 1]."""
    return encode_images(inputs, "png")


def decode_png(data: bytes) -> torch.Tensor:
    """A stored image (PNG or WebP) as a float tensor ``(C, H, W)`` in [0, 1] (values k / 255)."""
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255
