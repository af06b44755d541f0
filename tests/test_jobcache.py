"""The job record cache: a rebuild reads only new or rewritten records, and stays correct."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.store import SweepStore, jobcache, read_jobs
from tests.test_store import record


def _store(root: Path, ids: list[str], status: str = "done") -> None:
    with SweepStore(root, "sweep0", {"name": "sweep0"}) as store:
        for job_id in ids:
            store.write(job_id, ("fc", 1), None, record(job_id, status))


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many files each call of the cache's reader reads."""
    reads: list[int] = []
    real = jobcache.read_job_files

    def counted(root: Path, paths: list[Path]):  # noqa: ANN202 - a pa.Table, as real
        reads.append(len(paths))
        return real(root, paths)

    monkeypatch.setattr(jobcache, "read_job_files", counted)
    return reads


def test_cache_reads_only_new_or_rewritten_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cache = tmp_path / "d", tmp_path / "atlas" / "jobs-cache.parquet"
    _store(root, [f"j{i}" for i in range(5)])
    reads = _counting(monkeypatch)
    assert jobcache.read_jobs_cached(root, cache).equals(read_jobs(root))
    assert jobcache.read_jobs_cached(root, cache).equals(read_jobs(root))
    assert reads == [5]  # the second read came from the cache
    _store(root, ["j5"])  # a resumed sweep adds a job
    (root / "jobs" / "j0.parquet").unlink()  # a record deleted to redo its job
    _store(root, ["j1"], status="failed")  # a job redone: its record rewritten
    table = jobcache.read_jobs_cached(root, cache)
    assert sorted(reads[1:]) == [2]
    assert table.equals(read_jobs(root))
    status = dict(zip(table["job_id"].to_pylist(), table["status"].to_pylist(), strict=True))
    assert status["j1"] == "failed"


def test_damaged_records_are_skipped_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root, cache = tmp_path / "d", tmp_path / "jobs-cache.parquet"
    _store(root, ["a", "b", "c"])
    bad = root / "jobs" / "b.parquet"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    (root / "jobs" / "c.parquet").write_bytes(b"junk")
    reads = _counting(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert jobcache.read_jobs_cached(root, cache)["job_id"].to_pylist() == ["a"]
        assert read_jobs(root)["job_id"].to_pylist() == ["a"]
    assert sum("skipped 2 unreadable" in r.getMessage() for r in caplog.records) == 2
    jobcache.read_jobs_cached(root, cache)
    assert reads == [3, 2]  # the damaged ones are tried again, the intact one is cached
    cache.write_bytes(b"not parquet")  # a damaged cache: every record is read again
    assert jobcache.read_jobs_cached(root, cache)["job_id"].to_pylist() == ["a"]
    assert reads[-1] == 3
