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
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds

from pipeline.store import schema
from pipeline.store.shards import PARQUET, READ_ERRORS, footer_rows, read_shard, visible

QUARANTINE = "quarantine"
log = logging.getLogger(__name__)


def recorded_samples(path: Path) -> int | None:
    """``n_samples`` of the job record at ``path``; ``None`` if it is unreadable or not the
    one-row record of the job its file name says."""
    try:
        table = read_shard(path)
        rows = table.select(["job_id", "n_samples"]).to_pylist()
    except (*READ_ERRORS, KeyError):
        return None
    if len(rows) != 1 or rows[0]["job_id"] != path.stem or rows[0]["n_samples"] is None:
        return None
    return int(rows[0]["n_samples"])


def recorded(records: list[Path]) -> dict[str, int | None]:
    """Job id (file stem) -> ``n_samples`` of its record, ``None`` where the record is bad.

    All records are read in one scan (about half a millisecond each); only if that fails,
    or a file does not hold the one record its name says, are they read one by one.
    """
    try:
        dataset = ds.dataset([str(p) for p in records], schema=schema.JOBS, format=PARQUET)
        rows = dataset.to_table(columns=["job_id", "n_samples"]).to_pylist()
    except READ_ERRORS:
        rows = []
    if sorted(r["job_id"] for r in rows) == sorted(p.stem for p in records):
        return {r["job_id"]: int(r["n_samples"]) for r in rows}
    return {p.stem: recorded_samples(p) for p in records}


def bad_jobs(samples_dir: Path, jobs_dir: Path) -> dict[str, list[Path]]:
    """Job id -> its files, for every job whose record or samples shard fails the checks."""
    shards = {p.stem: p for p in visible(samples_dir.rglob("*.parquet"))}
    records = visible(jobs_dir.glob("*.parquet"))
    counts = recorded(records)
    bad: dict[str, list[Path]] = {}
    for record in records:
        shard, expected = shards.get(record.stem), counts[record.stem]
        if shard is not None:
            readable = footer_rows(shard) is not None
        else:
            readable = expected == 0
        if expected is None or not readable:
            bad[record.stem] = [record] + ([shard] if shard is not None else [])
    return bad


def quarantine(root: Path, samples_dir: Path, jobs_dir: Path) -> list[str]:
    """Move the files of every bad job under ``root/quarantine/<time>/``; return their ids."""
    bad = bad_jobs(samples_dir, jobs_dir)
    if not bad:
        return []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = root / QUARANTINE / stamp
    for paths in bad.values():
        for path in paths:
            moved = target / path.relative_to(root)
            moved.parent.mkdir(parents=True, exist_ok=True)
            path.replace(moved)
    ids = sorted(bad)
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    log.warning(
        "%s: %d jobs had unreadable or inconsistent shards (%s); moved to %s, they will be rerun",
        root, len(ids), shown, target,
    )
    return ids
