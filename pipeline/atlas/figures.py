"""Publication figure of an entry: one row of samples per band, high to low (paper, fig. 1)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.atlas.catalog import Entry
from pipeline.atlas.images import open_png
from pipeline.atlas.samples import Shown

GAP, PAD, DPI = 4, 12, 300
MIN_CELL = 96  # small images are upscaled further (integer factor) to at least this side


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def figure(entry: Entry, shown: dict[str, Shown], per_row: int, scale: int) -> Image.Image:
    """The grid: title on top, a band label left of each row, images upscaled ``scale`` x
    (or more, up to a side of :data:`MIN_CELL`)."""
    rows = [(job, shown.get(job.job_id)) for job in entry.jobs]
    images = [[open_png(png) for png in s.images[:per_row]] if s else [] for _, s in rows]
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


def write_figure(
    entry: Entry, shown: dict[str, Shown], path: Path, per_row: int, scale: int
) -> None:
    """Save the entry's figure as a PNG (300 dpi metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(entry, shown, per_row, scale).save(path, format="PNG", dpi=(DPI, DPI))
