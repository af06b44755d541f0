"""Find the shards a crash or a bad disk left unreadable or inconsistent, and move them aside.

Run when a store opens (so before every resume). A job record is read whole (it is one
row); a samples shard only by its footer (cheap: the end of the file), and it must exist
when the record counts samples. A job failing either check loses its record and shard to
``<root>/quarantine/<time>/`` (kept for inspection, invisible to readers), so the next run
redoes it. A damaged data page behind an intact footer is caught by the page checksums
when the shard is read (see :mod:`pipeline.store.dataset`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pyarrow.fs import FileSystem

from pipeline.store import schema
from pipeline.store.shards import (
    READ_ERRORS,
    PathT,
    footer_rows,
    parquet_format,
    read_shard,
    stem,
    visible,
)

QUARANTINE = "quarantine"
log = logging.getLogger(__name__)


def recorded_samples(path: str | Path, fs: FileSystem | None = None) -> int | None:
    """``n_samples`` of the job record at ``path``; ``None`` if it is unreadable or not the
    one-row record of the job its file name says."""
    try:
        table = read_shard(path, fs)
        rows = table.select(["job_id", "n_samples"]).to_pylist()
    except (*READ_ERRORS, KeyError):
        return None
    if len(rows) != 1 or rows[0]["job_id"] != stem(path) or rows[0]["n_samples"] is None:
        return None
    return int(rows[0]["n_samples"])


def recorded(records: Sequence[str | Path], fs: FileSystem | None = None) -> dict[str, int | None]:
    """Job id (file stem) -> ``n_samples`` of its record, ``None`` where the record is bad.

    All records are read in one scan (about half a millisecond each); only if that fails,
    or a file does not hold the one record its name says, are they read one by one.
    """
    import pyarrow.dataset as ds  # on first use: see parquet_format

    try:
        dataset = ds.dataset([str(p) for p in records], schema=schema.JOBS,
                             format=parquet_format(), filesystem=fs)
        rows = dataset.to_table(columns=["job_id", "n_samples"]).to_pylist()
    except READ_ERRORS:
        rows = []
    if sorted(r["job_id"] for r in rows) == sorted(stem(p) for p in records):
        return {r["job_id"]: int(r["n_samples"]) for r in rows}
    return {stem(p): recorded_samples(p, fs) for p in records}


def inconsistent(
    shards: Sequence[PathT], records: Sequence[PathT], fs: FileSystem | None = None
) -> dict[str, list[PathT]]:
    """Job id -> its files, for every job whose record (among the visible ``records``) or
    samples shard (among ``shards``) fails the checks; ``fs``: where they are (None: local)."""
    by_id = {stem(p): p for p in shards}
    counts = recorded(records, fs)
    bad: dict[str, list[PathT]] = {}
    for record in records:
        shard, expected = by_id.get(stem(record)), counts[stem(record)]
        if shard is not None:
            readable = footer_rows(shard, fs) is not None
        else:
            readable = expected == 0
        if expected is None or not readable:
            bad[stem(record)] = [record] + ([shard] if shard is not None else [])
    return bad


def bad_jobs(samples_dir: Path, jobs_dir: Path) -> dict[str, list[Path]]:
    """Job id -> its files, for every job whose record or samples shard fails the checks."""
    shards = visible(samples_dir.rglob("*.parquet"))
    return inconsistent(shards, visible(jobs_dir.glob("*.parquet")))


def stamp() -> str:
    """The name of a new quarantine folder: the time, to the microsecond."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def report(root: str | Path, ids: list[str], target: str | Path) -> list[str]:
    """Log, in one line, the jobs just quarantined under ``target``; return their ids."""
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    log.warning(
        "%s: %d jobs had unreadable or inconsistent shards (%s); moved to %s, they will be rerun",
        root, len(ids), shown, target,
    )
    return ids


def quarantine(root: Path, samples_dir: Path, jobs_dir: Path) -> list[str]:
    """Move the files of every bad job under ``root/quarantine/<time>/``; return their ids."""
    bad = bad_jobs(samples_dir, jobs_dir)
    if not bad:
        return []
    target = root / QUARANTINE / stamp()
    for paths in bad.values():
        for path in paths:
            moved = target / path.relative_to(root)
            moved.parent.mkdir(parents=True, exist_ok=True)
            path.replace(moved)
    return report(root, sorted(bad), target)
