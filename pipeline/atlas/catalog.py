"""The jobs of a dataset grouped into atlas entries: one per neuron and per intersection.

Reads only job records (no samples): labels, band order, links between neurons and the
intersections they take part in, summary numbers for the index and a change key per job.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.atlas.diagnostics import diagnostics, status_counts
from pipeline.atlas.labels import Labels
from pipeline.atlas.manifest import JOBS_CACHE
from pipeline.atlas.settings import Filters
from pipeline.store.jobcache import read_jobs_cached

REACHED = ("done", "partial")  # statuses whose jobs store samples


def neuron_name(neuron: dict[str, Any]) -> str:
    """A neuron's target name, as the store writes it: ``layer:unit`` (``@spatial`` if set)."""
    where = "" if neuron["spatial"] == "center" else f"@{neuron['spatial']}"
    return f"{neuron['layer']}:{neuron['unit']}{where}"


def slug(name: str) -> str:
    """A file-name-safe, unique stem for an entry (readable prefix + hash of the name)."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:48] or "entry"
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass
class BandJob:
    """One job record as the atlas shows it: one band of an entry (not the sampler's
    per-iteration record, nor the sweep's job spec)."""

    record: dict[str, Any]
    config: dict[str, Any]
    stats: dict[str, Any]

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self.record["job_id"]

    @property
    def key(self) -> str:
        """Changes whenever the job's record is rewritten (e.g. a failed job rerun)."""
        r = self.record
        return f"{r['finished_at'].isoformat()}|{r['status']}|{r['n_samples']}|{r['attempts']}"

    @property
    def bands(self) -> list[tuple[float, float]] | None:
        """Absolute band per neuron (``None`` when the job failed before resolving them)."""
        bands = self.record["bands"]
        return None if bands is None else [(b["lo"], b["hi"]) for b in bands]

    @property
    def configured(self) -> list[dict[str, Any]]:
        """The bands as configured (``lo``, ``hi``, ``scale``), one per neuron."""
        return list(self.config.get("bands") or [])

    @property
    def status(self) -> str:
        """``done``, ``partial``, ``infeasible`` or ``failed`` (as the job record says)."""
        return str(self.record["status"])

    @property
    def reached(self) -> bool:
        """Whether the job stored samples (done, or partial: fewer than requested)."""
        return self.status in REACHED and self.record["n_samples"] > 0

    def band_text(self, j: int = 0) -> str:
        """Neuron ``j``'s band: absolute ``[lo, hi]``, plus the configured fractions if relative."""
        parts = []
        if self.bands is not None:
            lo, hi = self.bands[j]
            parts.append(f"[{lo:.4g}, {hi:.4g}]")
        configured = self.configured[j] if j < len(self.configured) else {}
        if configured.get("scale") == "relative" or self.bands is None:
            scale = " of range" if configured.get("scale") == "relative" else ""
            parts.append(f"({configured.get('lo', 0):.3g}-{configured.get('hi', 0):.3g}{scale})")
        return " ".join(parts)

    def order(self) -> tuple[float, float, str]:
        """Sort key: the first neuron's configured band, then the sweep."""
        band = self.configured[0] if self.configured else {"lo": 0.0, "hi": 0.0}
        return (float(band["hi"]), float(band["lo"]), self.record["sweep"])


@dataclass
class Entry:
    """A neuron or an intersection with its jobs (bands from high to low)."""

    name: str
    kind: str  # "neuron" | "intersection"
    label: str
    neurons: list[dict[str, Any]]
    jobs: list[BandJob] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # names of linked entries

    @property
    def slug(self) -> str:
        """The stem of its page and figure files."""
        return slug(self.name)

    def summary(self) -> dict[str, Any]:
        """Numbers for the index: bands reached, samples, diversity, steps, wall time, job
        statuses and the sampler's diagnostics."""
        reached = [j for j in self.jobs if j.reached]
        div = [j.record["redundancy"] for j in reached if j.record["redundancy"] is not None]
        statuses = status_counts(self.jobs)
        return {
            "bands": len(self.jobs),
            "reached": len(reached),
            "feasibility": len(reached) / len(self.jobs) if self.jobs else 0.0,
            "samples": sum(j.record["n_samples"] for j in self.jobs),
            "diversity": sum(div) / len(div) if div else None,
            "steps": sum(j.record["steps"] or 0 for j in self.jobs),
            "wall": sum(j.record["wall_seconds"] or 0.0 for j in self.jobs),
            "failed": statuses["failed"],
            "statuses": statuses,
            **diagnostics(self.jobs),
        }


def _loads(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def _preset(config: dict[str, Any]) -> str | None:
    preset = (config.get("model") or {}).get("preset") or {}
    return preset.get("name") if isinstance(preset, dict) else None


def _keep(view: BandJob, label: str, filters: Filters) -> bool:
    record = view.record
    if filters.sweeps is not None and record["sweep"] not in filters.sweeps:
        return False
    layers = {n["layer"] for n in record["neurons"]}
    if filters.layers is not None and not layers & set(filters.layers):
        return False
    if filters.targets is not None:
        names = (record["target"], label)
        return any(fnmatch.fnmatchcase(n, p) for p in filters.targets for n in names)
    return True


def _link(entries: dict[str, Entry]) -> None:
    """Link each intersection and the neurons (entries of their own) it is made of."""
    for entry in entries.values():
        if entry.kind == "intersection":
            for member in (neuron_name(n) for n in entry.neurons):
                if member in entries and entries[member].kind == "neuron":
                    entry.links.append(member)
                    entries[member].links.append(entry.name)


def catalog(dataset: str | Path, labels: Labels, filters: Filters, out: Path) -> list[Entry]:
    """The dataset's entries (neurons by layer and unit, then intersections by name).

    Job records are read once and cached in ``out`` (the atlas folder); a rebuild reads
    only the record files that are new or were rewritten since.
    """
    entries: dict[str, Entry] = {}
    for record in read_jobs_cached(dataset, out / JOBS_CACHE).to_pylist():
        view = BandJob(record, _loads(record["config"]), _loads(record["stats"]))
        neurons = record["neurons"]
        kind = "neuron" if len(neurons) == 1 else "intersection"
        label = record["target"]
        if kind == "neuron":
            n = neurons[0]
            label = labels(_preset(view.config), n["layer"], n["unit"]) or neuron_name(n)
        if not _keep(view, label, filters):
            continue
        entry = entries.setdefault(record["target"], Entry(record["target"], kind, label, neurons))
        entry.jobs.append(view)
    for entry in entries.values():
        entry.jobs.sort(key=BandJob.order, reverse=True)
    _link(entries)

    def order(e: Entry) -> tuple[bool, str, int, str]:
        if e.kind == "intersection":
            return (True, "", 0, e.name)
        return (False, e.neurons[0]["layer"], e.neurons[0]["unit"], e.name)

    return sorted(entries.values(), key=order)
