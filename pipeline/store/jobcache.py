"""Read the job records of an output folder again, reading only the files that changed.

An atlas rebuild reads every job record; at thousands of jobs that is seconds of Parquet
opens (about 1.5 ms a file, far more on an object store). :func:`read_jobs_cached` keeps
the records it read in a cache file (a local Parquet table owned by the caller, e.g. in
the atlas folder) with each record file's signature (size, modification time in ns and
inode on a local disk; size and last-modified time of an object); the next call lists
``jobs/`` with the signatures (one listing on an object store), reuses the cached rows
whose file is unchanged and reads only the new or rewritten ones (a job redone after
quarantine is written anew: a new signature). Records whose files are gone drop out.
Damaged records are skipped with one warning, as :func:`pipeline.store.read_jobs` does,
and are not cached (so they are tried again).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.store import schema
from pipeline.store.dataset import read_job_files
from pipeline.store.layout import JOBS
from pipeline.store.objects import faults, is_remote, open_uri
from pipeline.store.shards import READ_ERRORS, stem, visible, write_shard

log = logging.getLogger(__name__)

SHARD, SIGNATURE = "_shard", "_signature"  # the cache's extra columns: file stem, signature
CACHED = pa.schema(list(schema.JOBS) + [pa.field(SHARD, pa.string()),
                                        pa.field(SIGNATURE, pa.string())])


def _signature(path: Path) -> str | None:
    """``size:mtime_ns:inode`` of a file (``None`` when it vanished meanwhile)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _signed(root: str | Path) -> dict[str, tuple[str, str]]:
    """Each visible job record of the output folder or URI ``root``: its job id -> (its path
    or object key, its signature)."""
    if is_remote(root):
        fs, base = open_uri(str(root))
        selector = pafs.FileSelector(f"{base}/{JOBS}", allow_not_found=True)
        with faults(str(root), "list"):
            infos = [i for i in fs.get_file_info(selector) if i.type == pafs.FileType.File]
        signs = {i.path: f"{i.size}:{i.mtime_ns}" for i in infos}
        return {stem(p): (p, signs[p]) for p in visible(signs)}
    folder = Path(root) / JOBS
    paths = visible(folder.glob("*.parquet")) if folder.is_dir() else []
    return {stem(p): (str(p), sig) for p in paths if (sig := _signature(p)) is not None}


def _load(cache: Path) -> pa.Table:
    """The cached records (empty when there is no cache or it cannot be read)."""
    if not cache.is_file():
        return CACHED.empty_table()
    try:
        table = pq.read_table(cache, page_checksum_verification=True)
        return table.select(CACHED.names).cast(CACHED)
    except (*READ_ERRORS, KeyError, ValueError) as err:
        log.info("job record cache %s unreadable (%s); reading every record", cache, err)
        return CACHED.empty_table()


def read_jobs_cached(root: str | Path, cache: str | Path) -> pa.Table:
    """Every job record of the output folder or URI ``root`` (as :func:`read_jobs`, sorted
    by job file), reading only the files not in, or changed since, the local ``cache``
    file; the cache is then rewritten (atomically) when anything changed."""
    cache = Path(cache)
    signed = _signed(root)
    old = _load(cache)
    keys = pa.array([f"{s}|{sig}" for s, (_, sig) in signed.items()], pa.string())
    old_keys = pc.binary_join_element_wise(old[SHARD], old[SIGNATURE], "|")
    kept = old.filter(pc.is_in(old_keys, value_set=keys))
    known = set(kept[SHARD].to_pylist())
    new = [(s, p, sig) for s, (p, sig) in signed.items() if s not in known]
    fresh = read_job_files(root, [p for _, p, _ in new]) if new else schema.JOBS.empty_table()
    by_stem = {s: sig for s, _, sig in new}
    shards = fresh["job_id"].to_pylist()  # a record's file is <job_id>.parquet
    fresh = fresh.append_column(SHARD, pa.array(shards, pa.string())).append_column(
        SIGNATURE, pa.array([by_stem.get(s) for s in shards], pa.string()))
    table = pa.concat_tables([kept, fresh.cast(CACHED)])
    table = table.take(pc.sort_indices(table, [(SHARD, "ascending")]))
    if new or kept.num_rows != old.num_rows:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_shard(table, cache)
    return table.select(schema.JOBS.names)
