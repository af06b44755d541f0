"""A sweep's output folder: the manifest, the samples and jobs datasets, resume and a lock.

Layout::

    <root>/manifest.json                              format, version, sweeps (hash + config)
    <root>/samples/layer=<layer>/unit=<unit>/<job_id>.parquet
    <root>/jobs/<job_id>.parquet                      one job record per finished job

A job is finished when its job record exists. The samples shard is written first, then the
record, each atomically; so on reopening, a samples shard without a record is an orphan of
a killed run and is removed, and a job whose record or shard was damaged on disk is moved
to ``quarantine/`` (:mod:`pipeline.store.check`) so that it reruns. A write the disk refuses
raises a one-line :class:`EnvironmentFault` (a full or failing disk) or :class:`ConfigError`
(an unwritable path) and leaves no half-written job.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyarrow.fs import FileSystem

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.store import schema
from pipeline.store.check import quarantine
from pipeline.store.formats import StoreFormat
from pipeline.store.layout import JOBS, LOCK, MANIFEST, SAMPLES, record_key, shard_key
from pipeline.store.manifest import parse_manifest, registered
from pipeline.store.objects import exists, faults, files, get_text, is_remote, open_uri
from pipeline.store.objectstore import ObjectSweepStore
from pipeline.store.shards import (
    READ_ERRORS,
    footer_rows,
    parquet_format,
    read_shard,
    remove_temps,
    stem,
    visible,
    write_shard,
    write_text,
)

if TYPE_CHECKING:
    import pyarrow.dataset as ds

log = logging.getLogger(__name__)


# The disk's own faults (full, over quota, file size limit, I/O error): not the config's.
_DISK_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)


def _unwritable(root: Path, err: OSError, what: str) -> ConfigError | EnvironmentFault:
    """The one-line error for a refused write: an :class:`EnvironmentFault` when the disk
    failed, a :class:`ConfigError` when the path cannot be written (permissions, a file)."""
    reason = err.strerror or type(err).__name__
    if err.errno in _DISK_FAULTS:
        return EnvironmentFault(
            f"cannot {what} in output.dir {root} ({reason}); free disk space or choose another "
            "output.dir, then rerun (finished jobs are kept)"
        )
    return ConfigError(
        f"cannot {what} in output.dir {root} ({reason}); choose a writable output.dir, then "
        "rerun (finished jobs are kept)"
    )


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        text = (root / MANIFEST).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            f"cannot read {root / MANIFEST} ({err}); restore it or use a new output.dir"
        ) from None
    return parse_manifest(text, str(root / MANIFEST))


def shard_path(root: str | Path, job_id: str, layer: str, unit: int) -> Path:
    """Where the samples shard of a job lives in the dataset folder ``root``."""
    return Path(root) / shard_key(job_id, layer, unit)


def is_sweep_output(root: str | Path) -> bool:
    """Whether ``root`` (a local folder or an object-store URI) holds a sweep manifest."""
    if is_remote(root):
        fs, base = open_uri(str(root))
        with faults(str(root), "read"):
            return exists(fs, f"{base}/{MANIFEST}")
    return (Path(root) / MANIFEST).is_file()


class SweepStore:
    """The output folder of one or more sweeps, opened for writing by one driver at a time.

    Opening it creates the folder (or checks that it is a sweep output), records the sweep
    in the manifest, takes an exclusive lock (released when the process ends, even if it
    is killed) and removes what a killed run left half-done.
    """

    def __init__(
        self, root: str | Path, sweep: str, config: dict[str, Any], fmt: StoreFormat | None = None
    ) -> None:
        """``fmt``: how samples are stored (codes, images, features; docs/dataset.md)."""
        if is_remote(root):
            raise ConfigError(f"output.dir={root} is not a local folder; open it with open_store")
        self.root = Path(root).expanduser().resolve()
        self.sweep, self.format = sweep, fmt or StoreFormat()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"output.dir {self.root} is a file; point output.dir at a folder")
        if self.root.is_dir() and any(self.root.iterdir()) and not is_sweep_output(self.root):
            raise ConfigError(
                f"output.dir {self.root} is not empty and is not a sweep output (no {MANIFEST}); "
                "choose a new or empty folder"
            )
        self.created = not self.root.exists()
        self._lock = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.root / LOCK, "a")  # noqa: SIM115 - held until close()
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ConfigError(
                f"output.dir {self.root} is in use by another running sweep; wait for it or "
                "choose another folder"
            ) from None
        except OSError as err:
            self._discard()
            raise _unwritable(self.root, err, "create files") from None
        try:
            self._register(config)
            self.samples_dir.mkdir(exist_ok=True)
            self.jobs_dir.mkdir(exist_ok=True)
            remove_temps(self.root)
            self.quarantined = quarantine(self.root, self.samples_dir, self.jobs_dir)
            self.orphans_removed = self._remove_orphans()
        except BaseException as err:
            self.close(discard=True)
            if isinstance(err, OSError):
                raise _unwritable(self.root, err, "write") from None
            raise

    @property
    def samples_dir(self) -> Path:
        """The samples dataset (hive-partitioned by layer and unit)."""
        return self.root / "samples"

    @property
    def jobs_dir(self) -> Path:
        """The jobs dataset (one shard per finished job)."""
        return self.root / "jobs"

    def _register(self, config: dict[str, Any]) -> None:
        manifest = _read_manifest(self.root) if is_sweep_output(self.root) else None
        text = registered(manifest, self.sweep, config)
        if text is not None:
            write_text(text, self.root / MANIFEST)

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
        return shard_path(self.root, job_id, layer, unit)

    def commit(self, job_id: str, partition: tuple[str, int], rows: int, record: pa.Table) -> None:
        """Store the record of a job whose samples shard (``rows`` rows) a worker wrote.

        The shard must be there, whole, as the driver sees it: else the worker's output is
        not this folder (not shared with its node) and the sweep stops. If the record
        cannot be written, the shard is removed too (the job stays unfinished).
        """
        shard = self.samples_path(job_id, *partition)
        if rows and footer_rows(shard) != rows:
            raise EnvironmentFault(
                f"the samples shard of job {job_id} written by a worker is not whole at {shard}; "
                "output.dir must be a folder every Ray node sees (a shared filesystem)"
            )
        try:
            write_shard(record, self.root / record_key(job_id))
        except OSError as err:
            shard.unlink(missing_ok=True)
            raise _unwritable(self.root, err, f"store job {job_id}") from None

    def write(
        self, job_id: str, partition: tuple[str, int], samples: pa.Table | None, record: pa.Table
    ) -> None:
        """Store a finished job: its samples shard (if any rows) first, then its job record.

        If the disk refuses either, both are removed (the job stays unfinished) and a
        one-line :class:`EnvironmentFault` (or :class:`ConfigError`) says so.
        """
        shards = [(record, self.root / record_key(job_id))]
        if samples is not None and samples.num_rows:
            shards.insert(0, (samples, self.samples_path(job_id, *partition)))
        try:
            for table, path in shards:
                write_shard(table, path)
        except OSError as err:
            for _, path in reversed(shards):
                path.unlink(missing_ok=True)
            raise _unwritable(self.root, err, f"store job {job_id}") from None

    def _discard(self) -> None:
        """Remove the folder if this store created it and it holds no job yet."""
        if self.created and not (self.jobs_dir.is_dir() and any(self.jobs_dir.iterdir())):
            shutil.rmtree(self.root, ignore_errors=True)

    def close(self, discard: bool = False) -> None:
        """Release the lock; ``discard``: also remove the folder if it was created by this
        store and holds no job (a sweep that failed before storing anything)."""
        if self._lock is not None and not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            if discard:
                self._discard()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(discard=exc_type is not None)


def _listing(root: str | Path, sub: str, pattern: str) -> tuple[FileSystem | None, str, list]:
    """The filesystem (None: local), the folder and the visible shards of one dataset
    (``sub``: samples or jobs) of a sweep output, local or on an object store."""
    if is_remote(root):
        fs, base = open_uri(str(root))
        if not is_sweep_output(root):
            raise ConfigError(f"{root} is not a sweep output (no {MANIFEST})")
        with faults(str(root), "list"):
            return fs, f"{base}/{sub}", visible(files(fs, f"{base}/{sub}"))
    folder = Path(root) / sub
    if not folder.is_dir():
        raise ConfigError(f"{folder} does not exist; is {folder.parent} a sweep output?")
    return None, str(folder), visible(folder.glob(pattern))


def _skip(bad: list[str]) -> None:
    """Say, in one line, which shards a read left out and how to get them back."""
    ids = ", ".join(stem(p) for p in bad[:5]) + (
        f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    log.warning(
        "%s: skipped %d unreadable shards (jobs %s); to redo them delete their files in jobs/ "
        "(a rerun quarantines truncated ones itself) and rerun the sweep",
        PurePosixPath(bad[0]).parent, len(bad), ids,
    )


def _intact(path: str, fs: FileSystem | None) -> bool:
    try:
        read_shard(path, fs)
    except READ_ERRORS:
        return False
    return True


def _dataset(
    listing: tuple[FileSystem | None, str, list], table_schema: pa.Schema,
    part: ds.Partitioning | None = None,
) -> ds.FileSystemDataset:
    """A dataset of the listed files whose footer reads (the others skipped with a warning)."""
    import pyarrow.dataset as ds  # on first use: see parquet_format

    fs, folder, paths = listing
    paths = [str(p) for p in paths]
    bad = [p for p in paths if footer_rows(p, fs) is None]
    if bad:
        _skip(bad)
    return ds.dataset(
        [p for p in paths if p not in bad], schema=table_schema, format=parquet_format(),
        partitioning=part, partition_base_dir=folder, filesystem=fs,
    )


def scan(
    dataset: ds.FileSystemDataset,
    columns: list[str] | None = None,
    where: ds.Expression | None = None,
) -> pa.Table:
    """``dataset.to_table(columns, filter=where)``, leaving out with one warning line the
    shards whose pages fail their checksums (damaged on disk behind an intact footer)."""
    try:
        return dataset.to_table(columns=columns, filter=where)
    except READ_ERRORS:
        fragments = list(dataset.get_fragments(filter=where))  # pruned by partition
        bad = [f.path for f in fragments if not _intact(f.path, dataset.filesystem)]
        if not bad:
            raise
    _skip(bad)
    good = [f for f in fragments if f.path not in bad]
    dataset = type(dataset)(good, dataset.schema, dataset.format, dataset.filesystem)
    return dataset.to_table(columns=columns, filter=where)


def samples_dataset(root: str | Path) -> ds.FileSystemDataset:
    """The samples of an output folder (a local path or an object-store URI) as a pyarrow
    dataset (with ``layer``, ``unit`` columns).

    Shards whose footer cannot be read (truncated) are left out with one warning line; read
    it with :func:`scan` to leave out damaged pages as well.
    """
    import pyarrow.dataset as ds  # on first use: see parquet_format

    full = pa.schema(list(schema.SAMPLES) + list(schema.PARTITIONS))
    part = ds.partitioning(schema.PARTITIONS, flavor="hive")
    return _dataset(_listing(root, SAMPLES, "**/*.parquet"), full, part)


def read_samples(
    root: str | Path, columns: list[str] | None = None, where: ds.Expression | None = None
) -> pa.Table:
    """Read samples (optionally only some ``columns`` and rows matching a pyarrow expression).

    Damaged shards are left out with one warning line.
    """
    return scan(samples_dataset(root), columns, where)


def _read_records(listing: tuple[FileSystem | None, str, list]) -> pa.Table:
    """The job records of the listed files in one pass; only when that fails (a damaged
    file) every file's footer and pages are checked, and the damaged ones left out with a
    warning."""
    import pyarrow.dataset as ds  # on first use: see parquet_format

    fs, _, paths = listing
    try:
        return ds.dataset(
            [str(p) for p in paths], schema=schema.JOBS, format=parquet_format(), filesystem=fs
        ).to_table()
    except READ_ERRORS:
        return scan(_dataset(listing, schema.JOBS))


def read_jobs(root: str | Path) -> pa.Table:
    """Read every job record of an output folder or URI (damaged ones left out with a warning)."""
    return _read_records(_listing(root, JOBS, "*.parquet"))


def read_job_files(root: str | Path, paths: list[str] | list[Path]) -> pa.Table:
    """The job records in ``paths``, files of the output folder (or object keys of the URI)
    ``root``'s ``jobs/`` (damaged ones left out with a warning)."""
    if is_remote(root):
        fs, base = open_uri(str(root))
        return _read_records((fs, f"{base}/{JOBS}", list(paths)))
    return _read_records((None, str(Path(root) / JOBS), list(paths)))


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of an output folder or URI (raises :class:`ConfigError` if it is none)."""
    if not is_sweep_output(root):
        raise ConfigError(f"{root} is not a sweep output (no {MANIFEST})")
    if is_remote(root):
        fs, base = open_uri(str(root))
        with faults(str(root), "read"):
            text = get_text(fs, f"{base}/{MANIFEST}")
        return parse_manifest(text, f"{root}/{MANIFEST}")
    return _read_manifest(Path(root))


def open_store(
    root: str | Path, sweep: str, config: dict[str, Any], fmt: StoreFormat | None = None
) -> SweepStore | ObjectSweepStore:
    """The store of ``output.dir``: :class:`SweepStore` for a local folder,
    :class:`ObjectSweepStore` for an ``s3://`` or ``gs://`` URI (other schemes refused)."""
    if is_remote(root):
        return ObjectSweepStore(str(root), sweep, config, fmt)
    return SweepStore(root, sweep, config, fmt)
