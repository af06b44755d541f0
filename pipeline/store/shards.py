"""Parquet shards that appear atomically: temp file in the same folder, fsync, os.replace.

Temp files start with ``.`` so that pyarrow, pandas and DuckDB globs never read them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TEMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or unlink) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_shard(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` so that readers see either no file or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path


def write_text(text: str, path: Path) -> Path:
    """Write a small text file atomically (same recipe as :func:`write_shard`)."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path


def remove_temps(root: Path) -> int:
    """Delete temp files left under ``root`` by a killed writer; return how many."""
    count = 0
    for tmp in root.rglob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count
