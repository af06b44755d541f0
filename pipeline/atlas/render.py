"""Render one entry: read its samples, write its sprite sheets, data script, page, band pages,
preview and figure. Runs in a worker process of the build's pool; returns what it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atlas.bandpage import band_page
from pipeline.atlas.catalog import Entry
from pipeline.atlas.figures import write_figure
from pipeline.atlas.images import thumbnail
from pipeline.atlas.index import write_if_changed
from pipeline.atlas.pagedata import (
    band_color,
    band_data,
    band_page_path,
    data_path,
    data_script,
    entry_data,
)
from pipeline.atlas.pages import entry_page, figure_path, page_path
from pipeline.atlas.projection import project
from pipeline.atlas.samples import BandSamples, read_band_samples
from pipeline.atlas.settings import AtlasSettings
from pipeline.atlas.sprites import Sheet, read_sheet, write_sheet


@dataclass
class RenderTask:
    """What a worker needs to render one entry."""

    dataset: str | Path  # a local folder or an object-store URI
    out: Path
    entry: Entry
    targets: dict[str, Entry]  # linked entries by name
    settings: AtlasSettings
    sheet_keys: dict[str, str]  # job id -> the key its sprite sheet must have
    fresh_sheets: set[str] = field(default_factory=set)  # job ids whose sheet is up to date


def preview_path(slug: str) -> str:
    """Where an entry's preview image (for the index) lives, relative to the atlas root."""
    return f"previews/{slug}.png"


def _sheets(task: RenderTask, shown: dict[str, BandSamples]) -> dict[str, Sheet]:
    sheets = {}
    for job_id, band in shown.items():
        sheet = read_sheet(task.out, job_id, len(band)) if job_id in task.fresh_sheets else None
        sheets[job_id] = sheet or write_sheet(task.out, job_id, band.images,
                                              task.settings.thumb_max)
    return sheets


def _positions(task: RenderTask, shown: dict[str, BandSamples]) -> dict[str, np.ndarray]:
    ids = list(shown)
    flat = project([shown[j].features for j in ids], task.settings.map)
    return dict(zip(ids, flat, strict=True))


def _write_text(path: Path, text: str) -> None:
    write_if_changed(path, text.encode())


def _band_files(task: RenderTask, shown: dict[str, BandSamples], sheets: dict[str, Sheet],
                xy: dict[str, np.ndarray]) -> tuple[list[str], list[dict[str, Any]]]:
    entry, s = task.entry, task.settings
    files, bands = [], []
    for i, job in enumerate(entry.jobs):
        if job.job_id not in shown:
            continue
        band = shown[job.job_id]
        bands.append(band_data(band, sheets[job.job_id], xy[job.job_id], job.band_text(0),
                               band_color(i)))
        files.append(band_page_path(job.job_id))
        _write_text(task.out / files[-1], band_page(entry, job, len(band), s.thumb_px))
    return files, bands


def _preview(task: RenderTask, shown: dict[str, BandSamples]) -> str | None:
    first = next((job.job_id for job in task.entry.jobs if job.job_id in shown), None)
    if first is None:
        return None
    band = shown[first]
    path = preview_path(task.entry.slug)
    write_if_changed(task.out / path, thumbnail(band.images[band.diverse[0]],
                                                task.settings.thumb_max))
    return path


def render_entry(task: RenderTask) -> dict[str, Any]:
    """Write the entry's files; return ``{"files", "preview", "sheets"}`` for the manifest."""
    entry, s = task.entry, task.settings
    shown = read_band_samples(task.dataset, entry, s.select_on)
    sheets = _sheets(task, shown)
    xy = _positions(task, shown)
    files, bands = _band_files(task, shown, sheets, xy)
    files.append(data_path(entry.slug))
    write_if_changed(task.out / files[-1], data_script(entry_data(entry, bands, s.map,
                                                                  s.thumb_px)))
    pairs = {j: (shown[j], sheets[j]) for j in shown}
    files.append(page_path(entry.slug))
    _write_text(task.out / files[-1], entry_page(entry, pairs, s, task.targets, s.figure))
    if s.figure:
        files.append(figure_path(entry.slug))
        write_figure(entry, shown, xy, task.out / files[-1], s.figure_per_row, s.figure_scale)
    preview = _preview(task, shown)
    if preview:
        files.append(preview)
    return {"files": files, "preview": preview,
            "sheets": {j: task.sheet_keys[j] for j in shown}}
