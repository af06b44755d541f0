"""A sweep's output on an object store (``s3://``, ``gs://``): the :class:`SweepStore` of
:mod:`pipeline.store.dataset` without POSIX files (docs/dataset.md, "Object storage").

Every object is written with one PUT (it appears whole or not at all), so there are no temp
files; the job record is still the commit, resume and orphan removal work by listing, a
quarantine is a copy then a delete, and the lock is a lock object
(:mod:`pipeline.store.lockobj`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.store.check import QUARANTINE, inconsistent, report, stamp
from pipeline.store.formats import StoreFormat
from pipeline.store.layout import JOBS, LOCK, MANIFEST, SAMPLES, record_key, shard_key
from pipeline.store.lockobj import LockObject
from pipeline.store.manifest import parse_manifest, registered
from pipeline.store.objects import (
    exists,
    faults,
    files,
    get_text,
    move,
    open_uri,
    put,
    put_shard,
)
from pipeline.store.shards import footer_rows, stem, visible


class ObjectSweepStore:
    """The output prefix of one or more sweeps on an object store, opened by one driver.

    Same interface as :class:`pipeline.store.SweepStore`; ``root`` is the URI.
    """

    def __init__(
        self, root: str, sweep: str, config: dict[str, Any], fmt: StoreFormat | None = None,
        lock_interval: float = 30.0,
    ) -> None:
        """``fmt``: how samples are stored; ``lock_interval``: seconds between lock renewals."""
        self.root = root.rstrip("/")
        self.fs, self.base = open_uri(self.root)
        self.sweep, self.format = sweep, fmt or StoreFormat()
        with faults(self.root, "list"):
            present = files(self.fs, self.base)
        if present and f"{self.base}/{MANIFEST}" not in present:
            raise ConfigError(
                f"output.dir {self.root} is not empty and is not a sweep output (no {MANIFEST}); "
                "choose a new or empty prefix"
            )
        self.created = not present
        self._lock = LockObject(self.fs, self._at(LOCK), sweep, interval=lock_interval,
                                stale_after=4 * lock_interval)
        with faults(self.root, "lock"):
            self._lock.acquire()
        try:
            with faults(self.root, "write"):
                self._register(config)
                self.quarantined = self._quarantine()
                self.orphans_removed = self._remove_orphans()
        except BaseException:
            self.close(discard=True)
            raise

    def _at(self, key: str) -> str:
        return f"{self.base}/{key}"

    def _register(self, config: dict[str, Any]) -> None:
        where = self._at(MANIFEST)
        manifest = None
        if exists(self.fs, where):
            manifest = parse_manifest(get_text(self.fs, where), f"{self.root}/{MANIFEST}")
        text = registered(manifest, self.sweep, config)
        if text is not None:
            put(self.fs, where, text.encode("utf-8"))

    def _shards(self) -> list[str]:
        return visible(files(self.fs, self._at(SAMPLES)))

    def _records(self) -> list[str]:
        return visible(files(self.fs, self._at(JOBS)))

    def _quarantine(self) -> list[str]:
        bad = inconsistent(self._shards(), self._records(), self.fs)
        if not bad:
            return []
        target = self._at(f"{QUARANTINE}/{stamp()}")
        for paths in bad.values():
            for path in paths:
                move(self.fs, path, target + path[len(self.base):])
        return report(self.root, sorted(bad), f"{self.root}/{QUARANTINE}/{target.rsplit('/')[-1]}")

    def _remove_orphans(self) -> int:
        done = self.finished()
        orphans = [p for p in self._shards() if stem(p) not in done]
        for path in orphans:
            self.fs.delete_file(path)
        return len(orphans)

    def finished(self) -> set[str]:
        """Ids of the jobs that have a job record (done, infeasible or failed)."""
        with faults(self.root, "list"):
            return {stem(p) for p in self._records()}

    def samples_path(self, job_id: str, layer: str, unit: int) -> str:
        """The URI of a job's samples shard."""
        return f"{self.root}/{shard_key(job_id, layer, unit)}"

    def commit(self, job_id: str, partition: tuple[str, int], rows: int, record: pa.Table) -> None:
        """Store the record of a job whose samples shard (``rows`` rows) a worker wrote
        (see :meth:`pipeline.store.SweepStore.commit`)."""
        shard = self._at(shard_key(job_id, *partition))
        if rows and footer_rows(shard, self.fs) != rows:
            raise EnvironmentFault(
                f"the samples shard of job {job_id} written by a worker is not whole at "
                f"{self.samples_path(job_id, *partition)}; check the workers' access to "
                "output.dir (their credentials and endpoint)"
            )
        self._put([(record, self._at(record_key(job_id)))], [shard], job_id)

    def write(
        self, job_id: str, partition: tuple[str, int], samples: pa.Table | None, record: pa.Table
    ) -> None:
        """Store a finished job: its samples shard (if any rows) first, then its record."""
        objects = [(record, self._at(record_key(job_id)))]
        if samples is not None and samples.num_rows:
            objects.insert(0, (samples, self._at(shard_key(job_id, *partition))))
        self._put(objects, [], job_id)

    def _put(self, objects: list[tuple[pa.Table, str]], also: list[str], job_id: str) -> None:
        """PUT ``objects`` in order; if one fails, delete them and ``also`` (best effort)."""
        try:
            for table, path in objects:
                put_shard(self.fs, path, table)
        except OSError as err:
            for path in [p for _, p in reversed(objects)] + also:
                try:
                    self.fs.delete_file(path)
                except OSError:
                    pass  # never written, or the store is gone: the record is what counts
            with faults(self.root, f"store job {job_id} in"):
                raise err

    def close(self, discard: bool = False) -> None:
        """Release the lock; ``discard``: also delete the prefix if this store created it
        and it holds no job."""
        if discard and self.created and not self.finished():
            with faults(self.root, "clean up"):
                for path in files(self.fs, self.base):
                    if path != self._lock.path:
                        self.fs.delete_file(path)
        with faults(self.root, "unlock"):
            self._lock.release()

    def __enter__(self) -> ObjectSweepStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(discard=exc_type is not None)
