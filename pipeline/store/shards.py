"""Parquet shards that appear atomically: temp file in the same folder, fsync, os.replace.

Temp files start with ``.`` so that pyarrow, pandas and DuckDB globs never read them.
Every data page carries a CRC checksum, verified on every read through the store, so a
shard damaged on disk raises instead of returning altered images.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow.fs import FileSystem

if TYPE_CHECKING:
    import pyarrow.dataset as ds

TEMP_SUFFIX = ".tmp"
PathT = TypeVar("PathT", str, Path)
# What a damaged or truncated Parquet file raises when it is read.
READ_ERRORS = (OSError, pa.ArrowException)


@functools.cache
def parquet_format() -> ds.ParquetFileFormat:
    """The Parquet format of reads that check every page's CRC. ``pyarrow.dataset`` (which
    imports pandas) is imported on first use, not with the store: a sampling actor only
    writes shards and never needs it (pyarrow imports pandas later, when the actor's writer
    thread builds its first table, off the sampling thread)."""
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            page_checksum_verification=True)
    )


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or unlink) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a hidden temp file beside ``path``, fsync it, rename it onto
    ``path`` and fsync the folder: readers see either no file or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path


def write_shard(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` as a zstd Parquet file with page checksums, atomically."""
    return _write_atomically(
        path,
        lambda handle: pq.write_table(table, handle, compression="zstd", write_page_checksum=True),
    )


def write_text(text: str, path: Path) -> Path:
    """Write a small UTF-8 text file atomically."""
    return _write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_temps(root: Path) -> int:
    """Delete temp files left under ``root`` by a killed writer; return how many."""
    count = 0
    for tmp in root.rglob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def visible(paths: Iterable[PathT]) -> list[PathT]:
    """The Parquet shards among ``paths`` (local paths or object keys) that readers see
    (no dot-files), sorted."""
    names = ((p, PurePosixPath(str(p)).name) for p in paths)
    return sorted(p for p, name in names if not name.startswith(".") and name.endswith(".parquet"))


def read_shard(path: str | Path, fs: FileSystem | None = None) -> pa.Table:
    """A whole shard, every page checked (raises one of :data:`READ_ERRORS` if damaged);
    ``fs``: the filesystem ``path`` is on (None: local)."""
    return pq.read_table(str(path), filesystem=fs, page_checksum_verification=True)


def footer_rows(path: str | Path, fs: FileSystem | None = None) -> int | None:
    """The row count in a shard's footer, or ``None`` when the footer cannot be read
    (a truncated or overwritten file, or none). Reads only the end of the file."""
    try:
        return pq.read_metadata(str(path), filesystem=fs).num_rows
    except READ_ERRORS:
        return None


def stem(path: str | Path) -> str:
    """A shard's job id: its file name without ``.parquet`` (a local path or an object key)."""
    return PurePosixPath(str(path)).stem
