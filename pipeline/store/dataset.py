"""A sweep's output folder: the manifest, the samples and jobs datasets, resume and a lock.

Layout::

    <root>/manifest.json                              format, version, sweeps (hash + config)
    <root>/samples/layer=<layer>/unit=<unit>/<job_id>.parquet
    <root>/jobs/<job_id>.parquet                      one job record per finished job

A job is finished when its job record exists. The samples shard is written first, then the
record, each atomically; so on reopening, a samples shard without a record is an orphan of
a killed run and is removed.
"""

from __future__ import annotations

import fcntl
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.errors import ConfigError
from pipeline.store import schema
from pipeline.store.shards import remove_temps, write_shard, write_text

MANIFEST = "manifest.json"
LOCK = ".lock"
_SAFE = re.compile(r"^[A-Za-z0-9_.+\-]+$")


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot read {root / MANIFEST} ({err}); restore it or use a new output.dir"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != schema.FORMAT:
        raise ConfigError(f"{root / MANIFEST} is not a sweep manifest; use a new output.dir")
    if manifest.get("version") != schema.VERSION:
        raise ConfigError(
            f"{root} holds dataset version {manifest.get('version')}, this code writes version "
            f"{schema.VERSION}; use a new output.dir"
        )
    return manifest


def is_sweep_output(root: str | Path) -> bool:
    """Whether ``root`` holds a sweep manifest."""
    return (Path(root) / MANIFEST).is_file()


class SweepStore:
    """The output folder of one or more sweeps, opened for writing by one driver at a time.

    Opening it creates the folder (or checks that it is a sweep output), records the sweep
    in the manifest, takes an exclusive lock (released when the process ends, even if it
    is killed) and removes what a killed run left half-done.
    """

    def __init__(self, root: str | Path, sweep: str, config: dict[str, Any]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.sweep = sweep
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"output.dir {self.root} is a file; point output.dir at a folder")
        if self.root.is_dir() and any(self.root.iterdir()) and not is_sweep_output(self.root):
            raise ConfigError(
                f"output.dir {self.root} is not empty and is not a sweep output (no {MANIFEST}); "
                "choose a new or empty folder"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / LOCK, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ConfigError(
                f"output.dir {self.root} is in use by another running sweep; wait for it or "
                "choose another folder"
            ) from None
        self._register(config)
        self.samples_dir.mkdir(exist_ok=True)
        self.jobs_dir.mkdir(exist_ok=True)
        remove_temps(self.root)
        self.orphans_removed = self._remove_orphans()

    @property
    def samples_dir(self) -> Path:
        """The samples dataset (hive-partitioned by layer and unit)."""
        return self.root / "samples"

    @property
    def jobs_dir(self) -> Path:
        """The jobs dataset (one shard per finished job)."""
        return self.root / "jobs"

    def _register(self, config: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if is_sweep_output(self.root):
            manifest = _read_manifest(self.root)
        else:
            manifest = {"format": schema.FORMAT, "version": schema.VERSION, "created": now}
            manifest["sweeps"] = []
        if all(entry.get("hash") != self.sweep for entry in manifest["sweeps"]):
            manifest["sweeps"].append({"hash": self.sweep, "started": now, "config": config})
            write_text(json.dumps(manifest, indent=1, sort_keys=True), self.root / MANIFEST)

    def _remove_orphans(self) -> int:
        done = self.finished()
        orphans = [p for p in self.samples_dir.rglob("*.parquet") if p.stem not in done]
        for path in orphans:
            path.unlink()
        return len(orphans)

    def finished(self) -> set[str]:
        """Ids of the jobs that have a job record (done, infeasible or failed)."""
        return {p.stem for p in self.jobs_dir.glob("*.parquet")}

    def samples_path(self, job_id: str, layer: str, unit: int) -> Path:
        """Where the samples shard of a job lives."""
        if not _SAFE.match(layer):
            raise ConfigError(f"layer name {layer!r} has characters unsafe in a folder name")
        return self.samples_dir / f"layer={layer}" / f"unit={int(unit)}" / f"{job_id}.parquet"

    def write(
        self, job_id: str, partition: tuple[str, int], samples: pa.Table | None, record: pa.Table
    ) -> None:
        """Store a finished job: its samples shard (if any rows) first, then its job record."""
        if samples is not None and samples.num_rows:
            write_shard(samples, self.samples_path(job_id, *partition))
        write_shard(record, self.jobs_dir / f"{job_id}.parquet")

    def close(self) -> None:
        """Release the lock."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def samples_dataset(root: str | Path) -> ds.Dataset:
    """The samples of an output folder as a pyarrow dataset (with ``layer``, ``unit`` columns)."""
    full = pa.schema(list(schema.SAMPLES) + list(schema.PARTITIONS))
    part = ds.partitioning(schema.PARTITIONS, flavor="hive")
    return ds.dataset(Path(root) / "samples", format="parquet", schema=full, partitioning=part)


def read_samples(
    root: str | Path, columns: list[str] | None = None, where: ds.Expression | None = None
) -> pa.Table:
    """Read samples (optionally only some ``columns`` and rows matching a pyarrow expression)."""
    return samples_dataset(root).to_table(columns=columns, filter=where)


def read_jobs(root: str | Path) -> pa.Table:
    """Read every job record of an output folder."""
    return ds.dataset(Path(root) / "jobs", format="parquet", schema=schema.JOBS).to_table()


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of an output folder (raises :class:`ConfigError` if it is none)."""
    root = Path(root)
    if not is_sweep_output(root):
        raise ConfigError(f"{root} is not a sweep output (no {MANIFEST})")
    return _read_manifest(root)
