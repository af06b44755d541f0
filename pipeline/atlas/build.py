"""Build (or update) the atlas of a sweep dataset: pages, sprite sheets, figures, the index.

Incremental: an entry whose jobs, label, links and display settings are unchanged since the
last build (see :mod:`pipeline.atlas.manifest`) is skipped without reading its samples. The
stale entries are rendered in a pool of processes (``workers``; one per CPU by default).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TextIO

from pipeline.atlas.catalog import Entry, catalog
from pipeline.atlas.index import row as index_row
from pipeline.atlas.index import write_index
from pipeline.atlas.labels import Labels
from pipeline.atlas.manifest import Manifest
from pipeline.atlas.progress import BuildProgress
from pipeline.atlas.render import RenderTask, render_entry
from pipeline.atlas.settings import AtlasSettings
from pipeline.atlas.sprites import sprite_path
from pipeline.errors import ConfigError
from pipeline.store import read_manifest
from pipeline.store.objects import is_remote, name, public

LAYOUT = "2"  # bump when the pages or figures change, so that every page is rebuilt once
PAGE_SETTINGS = ("per_band", "select_on", "thumb_max", "thumb_px", "bins", "figure",
                 "figure_per_row", "figure_scale", "map")
SHEET_SETTINGS = ("thumb_max",)
SAVE_SECONDS = 10.0
PER_WORKER = 16  # stale entries per extra worker process, at least


def default_out(dataset: str | Path) -> Path:
    """The atlas folder next to a local dataset, ``<dataset>_atlas``; for a dataset on an
    object store, ``<its last folder name>_atlas`` in the current folder."""
    if is_remote(dataset):
        return Path.cwd() / f"{name(str(dataset))}_atlas"
    dataset = Path(dataset)
    return dataset.with_name(f"{dataset.name}_atlas")


def _where(dataset_dir: str | Path) -> str | Path:
    """The dataset as the build reads it: an object-store URI as given, a local folder as
    an absolute path."""
    if is_remote(dataset_dir):
        return str(dataset_dir)
    return Path(dataset_dir).expanduser().resolve()


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:20]


class _Builder:
    """Renders stale entries into ``out`` (in a process pool) and keeps the manifest in step."""

    def __init__(self, dataset: str | Path, out: Path, settings: AtlasSettings, manifest: Manifest,
                 entries: dict[str, Entry]) -> None:
        self.dataset, self.out, self.settings = dataset, out, settings
        self.manifest, self.entries = manifest, entries
        self.page_settings = settings.fingerprint(*PAGE_SETTINGS)
        self.sheet_settings = settings.fingerprint(*SHEET_SETTINGS)

    def key(self, entry: Entry) -> str:
        """What the entry's page and figure are made from."""
        links = [(n, self.entries[n].label, self.entries[n].slug) for n in entry.links]
        jobs = [(job.job_id, job.key) for job in entry.jobs]
        return _hash([LAYOUT, self.page_settings, entry.label, entry.kind, jobs, links])

    def task(self, entry: Entry) -> RenderTask:
        """The worker's task for ``entry``: which sprite sheets it may keep."""
        keys = {job.job_id: f"{job.key}|{self.sheet_settings}" for job in entry.jobs}
        fresh = {j for j, key in keys.items() if self.manifest.fresh("sprites", j, key)}
        targets = {name: self.entries[name] for name in entry.links}
        return RenderTask(self.dataset, self.out, entry, targets, self.settings, keys, fresh)

    def done(self, entry: Entry, key: str, result: dict[str, Any]) -> None:
        """Record what a worker wrote for ``entry``; delete the files it no longer has."""
        for job_id, sheet_key in result["sheets"].items():
            self.manifest.sprites[job_id] = {"key": sheet_key, "files": [sprite_path(job_id)]}
        files = result["files"]
        old = self.manifest.pages.get(entry.name, {"files": []})["files"]
        self.manifest.delete_files([f for f in old if f not in files])
        self.manifest.pages[entry.name] = {"key": key, "files": files,
                                           "preview": result["preview"]}


def _workers(settings: AtlasSettings, stale: int, remote: bool) -> int:
    """Processes for ``stale`` entries (small updates render in this process, and so do the
    entries of a dataset on an object store: pyarrow's S3 and GCS clients are not safe to
    use in a forked process)."""
    if remote:
        return 1
    wanted = settings.workers or os.cpu_count() or 1
    return max(1, min(wanted, -(-stale // PER_WORKER)))


def _render_all(builder: _Builder, stale: list[tuple[Entry, str]], progress: BuildProgress
                ) -> None:
    """Render the stale entries (in a pool of processes when more than one is worth it)."""
    saved = time.monotonic()
    workers = _workers(builder.settings, len(stale), is_remote(builder.dataset))
    with ExitStack() as stack:
        if workers > 1:
            # fork: workers start at once, and scripts need no ``if __name__ == "__main__"``
            fork = get_context("fork")
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=fork))
            results = pool.map(render_entry, (builder.task(e) for e, _ in stale), chunksize=4)
        else:
            results = map(render_entry, (builder.task(e) for e, _ in stale))
        for (entry, key), result in zip(stale, results, strict=True):
            builder.done(entry, key, result)
            progress.step(True)
            if time.monotonic() - saved > SAVE_SECONDS:
                builder.manifest.save()
                saved = time.monotonic()


def _facts(dataset: str | Path, entries: list[Entry], settings: AtlasSettings
           ) -> tuple[str, list[str]]:
    sweeps = read_manifest(dataset).get("sweeps", [])
    names = sorted({str((s.get("config") or {}).get("name") or "sweep") for s in sweeps})
    neurons = sum(e.kind == "neuron" for e in entries)
    remote = is_remote(dataset)
    facts = [
        f"dataset {public(str(dataset)) if remote else dataset}",
        f"{neurons} neurons, {len(entries) - neurons} intersections",
        "sweeps " + ", ".join(f"{s.get('hash')} ({(s.get('config') or {}).get('name')})"
                              for s in sweeps),
    ]
    active = {k: list(v) for k, v in vars(settings.filters).items() if v is not None}
    if active:
        facts.append(f"filters {json.dumps(active)}")
    fallback = name(str(dataset)) if remote else Path(dataset).name
    return f"Inverse-set atlas: {', '.join(names) or fallback}", facts


def build(
    dataset_dir: str | Path, out_dir: str | Path | None = None,
    settings: AtlasSettings | None = None, stream: TextIO | None = None,
) -> Path:
    """Build or update the atlas of the sweep dataset ``dataset_dir`` (a local folder or an
    ``s3://`` or ``gs://`` URI, read through :mod:`pyarrow.fs`); return its index.html.

    ``out_dir`` (always local) defaults to :func:`default_out`. Progress goes to ``stream``
    (stderr). Open the returned file in a browser; no server is needed.
    """
    dataset = _where(dataset_dir)
    read_manifest(dataset)  # a ConfigError unless this is a sweep output
    settings = settings if settings is not None else AtlasSettings()
    out = Path(out_dir).expanduser().resolve() if out_dir is not None else default_out(dataset)
    if isinstance(dataset, Path) and (out == dataset or dataset in out.parents):
        raise ConfigError(f"atlas out {out} is inside the dataset {dataset}; put it elsewhere")
    manifest = Manifest(out, public(dataset) if isinstance(dataset, str) else dataset)
    out.mkdir(parents=True, exist_ok=True)
    labels = Labels(settings.labels, settings.labels_layer)
    entries = catalog(dataset, labels, settings.filters, out)
    by_name = {entry.name: entry for entry in entries}
    builder = _Builder(dataset, out, settings, manifest, by_name)
    progress = BuildProgress(len(entries), stream, settings.progress_seconds)
    stale = []
    for entry in entries:
        key = builder.key(entry)
        if manifest.fresh("pages", entry.name, key):
            progress.step(False)
        else:
            stale.append((entry, key))
    _render_all(builder, stale, progress)
    if not entries:
        progress.report()
    manifest.remove_stale("pages", set(by_name))
    manifest.remove_stale("sprites", {job.job_id for e in entries for job in e.jobs if job.reached})
    rows = [index_row(e, manifest.pages[e.name]["preview"]) for e in entries]
    title, facts = _facts(dataset, entries, settings)
    index = write_index(out, rows, settings.page_size, title, facts)
    manifest.save()
    return index
