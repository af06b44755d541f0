"""Sprite sheets: all thumbnails of one band in one PNG, a grid the pages index into.

Sample at position ``i`` (samples sorted by index) sits in cell ``(i % cols, i // cols)`` of
``cell`` x ``cell`` pixels; images smaller than a cell are centred in it.
"""

from __future__ import annotations

import io
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Sheet:
    """Where a band's thumbnails are: the file (relative to the atlas root) and its grid."""

    path: str
    cell: int
    cols: int
    count: int

    def offset(self, i: int) -> tuple[int, int]:
        """The pixel offset of the ``i``-th thumbnail in the sheet."""
        return (i % self.cols) * self.cell, (i // self.cols) * self.cell


def sprite_path(job_id: str) -> str:
    """Where a band's sprite sheet lives, relative to the atlas root."""
    return f"sprites/{job_id}.png"


def _thumbs(images: list[bytes], max_side: int) -> list[Image.Image]:
    out = []
    for png in images:
        with Image.open(io.BytesIO(png), formats=("PNG", "WEBP")) as stored:
            image = stored.convert("RGB")
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out.append(image)
    return out


def sheet_layout(job_id: str, images: list[bytes], max_side: int) -> tuple[Sheet, list]:
    """The sheet's grid for ``images`` and their (downscaled) PIL images."""
    thumbs = _thumbs(images, max_side)
    cell = max((max(t.size) for t in thumbs), default=1)
    cols = max(1, math.ceil(math.sqrt(len(thumbs))))
    return Sheet(sprite_path(job_id), cell, cols, len(thumbs)), thumbs


def write_sheet(root: Path, job_id: str, images: list[bytes], max_side: int) -> Sheet:
    """Write the sprite sheet of one band's images (atomically); return its grid."""
    sheet, thumbs = sheet_layout(job_id, images, max_side)
    rows = max(1, math.ceil(len(thumbs) / sheet.cols))
    canvas = Image.new("RGB", (sheet.cols * sheet.cell, rows * sheet.cell), (245, 245, 247))
    for i, thumb in enumerate(thumbs):
        x, y = sheet.offset(i)
        pad = ((sheet.cell - thumb.width) // 2, (sheet.cell - thumb.height) // 2)
        canvas.paste(thumb, (x + pad[0], y + pad[1]))
    path = root / sheet.path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    canvas.save(tmp, format="PNG", compress_level=3)
    os.replace(tmp, path)
    return sheet


def read_sheet(root: Path, job_id: str, count: int) -> Sheet | None:
    """The grid of an existing sheet of ``count`` thumbnails (None if the file is missing)."""
    path = root / sprite_path(job_id)
    if not path.is_file():
        return None
    with Image.open(path) as image:
        width = image.width
    cols = max(1, math.ceil(math.sqrt(count)))
    return Sheet(sprite_path(job_id), width // cols, cols, count)
