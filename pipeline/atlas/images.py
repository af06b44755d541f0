"""Stored samples (PNG or WebP) -> thumbnails, tiny feature vectors and PIL images."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def open_png(data: bytes) -> Image.Image:
    """A stored sample as a loaded PIL image (gray, RGB or RGBA)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def thumbnail(data: bytes, max_side: int) -> bytes:
    """PNG bytes of at most ``max_side`` pixels a side: the stored bytes when they are a
    small enough PNG (a stored WebP is re-encoded)."""
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= max_side and image.format == "PNG":
            return data
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()


def tiny(data: bytes, side: int = 16) -> np.ndarray:
    """A cheap feature vector: the image as RGB at ``side`` x ``side``, values in [0, 1]."""
    image = open_png(data).convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32).reshape(-1) / 255
