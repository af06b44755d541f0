"""Build (or update) the atlas of a sweep dataset: pages, thumbnails, figures, the index.

Incremental: an entry whose jobs, label, links and display settings are unchanged since the
last build (see :mod:`pipeline.atlas.manifest`) is skipped without reading its samples.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, TextIO

import pyarrow.dataset as ds

from pipeline.atlas.catalog import Entry, catalog
from pipeline.atlas.figures import write_figure
from pipeline.atlas.images import write_thumbnail
from pipeline.atlas.index import row as index_row
from pipeline.atlas.index import write_index
from pipeline.atlas.labels import Labels
from pipeline.atlas.manifest import Manifest
from pipeline.atlas.pages import entry_page, figure_path, page_path, thumb_path
from pipeline.atlas.progress import Progress
from pipeline.atlas.samples import read_shown
from pipeline.atlas.settings import AtlasSettings
from pipeline.errors import ConfigError
from pipeline.store import read_manifest, samples_dataset

LAYOUT = "1"  # bump when the pages or figures change, so that every page is rebuilt once
PAGE_SETTINGS = ("per_band", "select_on", "thumb_max", "thumb_px", "bins", "figure",
                 "figure_per_row", "figure_scale")
THUMB_SETTINGS = ("per_band", "select_on", "thumb_max")
SAVE_SECONDS = 10.0


def default_out(dataset: Path) -> Path:
    """The atlas folder next to a dataset: ``<dataset>_atlas``."""
    return dataset.with_name(f"{dataset.name}_atlas")


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:20]


class _Builder:
    """Renders entries into ``out`` and keeps the manifest in step."""

    def __init__(self, out: Path, samples: ds.Dataset, settings: AtlasSettings,
                 manifest: Manifest, entries: dict[str, Entry]) -> None:
        self.out, self.samples, self.settings = out, samples, settings
        self.manifest, self.entries = manifest, entries
        self.page_settings = settings.fingerprint(*PAGE_SETTINGS)
        self.thumb_settings = settings.fingerprint(*THUMB_SETTINGS)

    def key(self, entry: Entry) -> str:
        """What the entry's page and figure are made from."""
        links = [(n, self.entries[n].label, self.entries[n].slug) for n in entry.links]
        jobs = [(job.job_id, job.key) for job in entry.jobs]
        return _hash([LAYOUT, self.page_settings, entry.label, entry.kind, jobs, links])

    def _thumbs(self, entry: Entry, shown: dict) -> None:
        for job in entry.jobs:
            if job.job_id not in shown:
                continue
            chosen = shown[job.job_id]
            key = f"{job.key}|{self.thumb_settings}"
            if self.manifest.fresh("thumbs", job.job_id, key):
                continue
            files = [thumb_path(job.job_id, i) for i in chosen.samples[: self.settings.per_band]]
            old = self.manifest.thumbs.pop(job.job_id, {"files": []})["files"]
            self.manifest.delete_files([f for f in old if f not in files])
            for file, png in zip(files, chosen.images, strict=False):
                write_thumbnail(png, self.out / file, self.settings.thumb_max)
            self.manifest.thumbs[job.job_id] = {"key": key, "files": files}

    def render(self, entry: Entry, key: str) -> None:
        """Read the entry's samples; write its thumbnails, page and figure."""
        s = self.settings
        count = max(s.per_band, s.figure_per_row if s.figure else 0)
        shown = read_shown(self.samples, entry, count, s.select_on)
        self._thumbs(entry, shown)
        files = [page_path(entry.slug)]
        html = entry_page(entry, shown, s, self.entries, s.figure)
        (self.out / files[0]).parent.mkdir(parents=True, exist_ok=True)
        (self.out / files[0]).write_text(html, encoding="utf-8")
        if s.figure:
            files.append(figure_path(entry.slug))
            write_figure(entry, shown, self.out / files[1], s.figure_per_row, s.figure_scale)
        old = self.manifest.pages.get(entry.name, {"files": []})["files"]
        self.manifest.delete_files([f for f in old if f not in files])
        first = next((job.job_id for job in entry.jobs if job.job_id in shown), None)
        preview = thumb_path(first, shown[first].samples[0]) if first else None
        self.manifest.pages[entry.name] = {"key": key, "files": files, "preview": preview}


def _facts(dataset: Path, entries: list[Entry], settings: AtlasSettings) -> tuple[str, list[str]]:
    sweeps = read_manifest(dataset).get("sweeps", [])
    names = sorted({str((s.get("config") or {}).get("name") or "sweep") for s in sweeps})
    neurons = sum(e.kind == "neuron" for e in entries)
    facts = [
        f"dataset {dataset}",
        f"{neurons} neurons, {len(entries) - neurons} intersections",
        "sweeps " + ", ".join(f"{s.get('hash')} ({(s.get('config') or {}).get('name')})"
                              for s in sweeps),
    ]
    active = {k: list(v) for k, v in vars(settings.filters).items() if v is not None}
    if active:
        facts.append(f"filters {json.dumps(active)}")
    return f"Inverse-set atlas: {', '.join(names) or dataset.name}", facts


def build(
    dataset_dir: str | Path, out_dir: str | Path | None = None,
    settings: AtlasSettings | None = None, stream: TextIO | None = None,
) -> Path:
    """Build or update the atlas of the sweep dataset ``dataset_dir``; return its index.html.

    ``out_dir`` defaults to ``<dataset_dir>_atlas``. Progress goes to ``stream`` (stderr).
    Open the returned file in a browser; no server is needed.
    """
    dataset = Path(dataset_dir).expanduser().resolve()
    read_manifest(dataset)  # a ConfigError unless this is a sweep output
    settings = settings if settings is not None else AtlasSettings()
    out = Path(out_dir).expanduser().resolve() if out_dir is not None else default_out(dataset)
    if out == dataset or dataset in out.parents:
        raise ConfigError(f"atlas out {out} is inside the dataset {dataset}; put it elsewhere")
    manifest = Manifest(out, dataset)
    out.mkdir(parents=True, exist_ok=True)
    entries = catalog(dataset, Labels(settings.labels, settings.labels_layer), settings.filters)
    by_name = {entry.name: entry for entry in entries}
    builder = _Builder(out, samples_dataset(dataset), settings, manifest, by_name)
    progress = Progress(len(entries), stream, settings.progress_seconds)
    saved = time.monotonic()
    for entry in entries:
        key = builder.key(entry)
        stale = not manifest.fresh("pages", entry.name, key)
        if stale:
            builder.render(entry, key)
        progress.step(stale)
        if time.monotonic() - saved > SAVE_SECONDS:
            manifest.save()
            saved = time.monotonic()
    if not entries:
        progress.report()
    manifest.remove_stale("pages", set(by_name))
    manifest.remove_stale("thumbs", {job.job_id for e in entries for job in e.jobs if job.reached})
    rows = [index_row(e, manifest.pages[e.name]["preview"]) for e in entries]
    title, facts = _facts(dataset, entries, settings)
    index = write_index(out, rows, settings.page_size, title, facts)
    manifest.save()
    return index
