"""Publication figure of an entry: one row of samples per band, high to low (paper, fig. 1),
and the map of its inverse set (every sample, coloured by band) to the right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.atlas.catalog import Entry
from pipeline.atlas.images import open_png
from pipeline.atlas.pagedata import band_color
from pipeline.atlas.samples import BandSamples

GAP, PAD, DPI = 4, 12, 300
MIN_CELL = 96  # small images are upscaled further (integer factor) to at least this side


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _row_images(band: BandSamples | None, per_row: int) -> list[Image.Image]:
    if band is None:
        return []
    return [open_png(band.images[i]) for i in band.diverse[:per_row]]


def grid(entry: Entry, shown: dict[str, BandSamples], per_row: int, scale: int) -> Image.Image:
    """The grid: title on top, a band label left of each row, images upscaled ``scale`` x
    (or more, up to a side of :data:`MIN_CELL`)."""
    rows = [(job, shown.get(job.job_id)) for job in entry.jobs]
    images = [_row_images(s, per_row) for _, s in rows]
    sizes = [im.size for row in images for im in row] or [(32, 32)]
    scale = max(scale, -(-MIN_CELL // max(max(size) for size in sizes)))
    cell_w = max(w for w, _ in sizes) * scale
    cell_h = max(h for _, h in sizes) * scale
    text = max(12, min(cell_h // 3, 28))
    font, title_font = _font(text), _font(round(text * 1.3))
    labels = [job.band_text(0) for job, _ in rows]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max((int(probe.textlength(t, font=font)) for t in labels), default=0) + 2 * PAD
    width = label_w + per_row * (cell_w + GAP) + PAD
    top = round(text * 1.3) + 2 * PAD
    height = top + len(rows) * (cell_h + GAP) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, PAD), f"{entry.label}  ({entry.name})", fill="black", font=title_font)
    for r, ((job, _), row, label) in enumerate(zip(rows, images, labels, strict=True)):
        y = top + r * (cell_h + GAP)
        draw.text((PAD, y + cell_h // 2), label, fill="black", font=font, anchor="lm")
        if not row:
            note = "failed" if job.record["status"] == "failed" else "band not reached"
            draw.text((label_w, y + cell_h // 2), note, fill="gray", font=font, anchor="lm")
        for c, image in enumerate(row):
            big = image.convert("RGB").resize(
                (image.width * scale, image.height * scale), Image.Resampling.NEAREST
            )
            canvas.paste(big, (label_w + c * (cell_w + GAP), y))
    return canvas


def scatter(entry: Entry, xy: dict[str, np.ndarray], side: int) -> Image.Image:
    """The map as an image ``side`` pixels square: one dot per sample, coloured by band."""
    canvas = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, side - 1, side - 1), outline=(210, 210, 215))
    r = max(2, side // 200)
    inner = side - 4 * r
    for i, job in reversed(list(enumerate(entry.jobs))):  # the highest band drawn last, on top
        points = xy.get(job.job_id)
        if points is None:
            continue
        for x, y in points[~np.isnan(points).any(axis=1)]:
            cx, cy = 2 * r + x * inner, 2 * r + (1 - y) * inner
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=band_color(i))
    return canvas


def figure(entry: Entry, shown: dict[str, BandSamples], xy: dict[str, np.ndarray], per_row: int,
           scale: int) -> Image.Image:
    """The grid of samples with the map of the inverse set beside it (when it has samples)."""
    rows = grid(entry, shown, per_row, scale)
    if not xy:
        return rows
    side = max(rows.height, 320)
    canvas = Image.new("RGB", (rows.width + side + PAD, side), "white")
    canvas.paste(rows, (0, 0))
    canvas.paste(scatter(entry, xy, side - 2 * PAD), (rows.width, PAD))
    return canvas


def write_figure(entry: Entry, shown: dict[str, BandSamples], xy: dict[str, np.ndarray],
                 path: Path, per_row: int, scale: int) -> None:
    """Save the entry's figure (grid and map) as a PNG (300 dpi metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(entry, shown, xy, per_row, scale).save(path, format="PNG", dpi=(DPI, DPI))
