"""The store on a real GCS emulator (gcp-storage-emulator, in memory, on 127.0.0.1) through
pyarrow's GcsFileSystem: the lock object and commits, a toy sweep to ``gs://`` with every
record and shard once, a driver killed mid-sweep whose rerun completes, and an atlas
built from the bucket."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.atlas import build
from pipeline.store import read_jobs, read_samples
from pipeline.sweep import compose
from tests.conftest import TOY, write_in_process
from tests.local_cluster import free_ports
from tests.servers import serve
from tests.test_atlas import atlas_data, entry_data
from tests.test_store_s3 import kill_and_resume, locks_commits_and_quarantines, sweep_writes_once

BUCKET = "sweeps"
EMULATOR = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A GCS emulator on a free port of 127.0.0.1 with a bucket; yields ``host:port``."""
    assert EMULATOR, "gcp-storage-emulator is a test dependency (pyproject.toml: test extras)"
    port = free_ports(1)[0]
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    with serve([EMULATOR, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
                "--default-bucket", BUCKET, "--quiet"],
               f"http://127.0.0.1:{port}/storage/v1/b", log):
        yield f"127.0.0.1:{port}"


def uri(gcs: str, prefix: str) -> str:
    """An output.dir in the emulator's bucket: anonymous, over plain HTTP, the endpoint in
    the URI (so that Ray workers reach it too)."""
    return (f"gs://anonymous@{BUCKET}/{prefix}?endpoint_override={gcs}&scheme=http"
            "&retry_limit_seconds=10")


def test_store_on_gcs_locks_commits_and_quarantines(gcs: str) -> None:
    locks_commits_and_quarantines(uri(gcs, "unit"), uri(gcs, "foreign"))


def test_sweep_writes_to_gcs(ray_session, gcs: str, toy_cfg) -> None:
    sweep_writes_once(uri(gcs, "toy"), toy_cfg)


def test_killed_sweep_on_gcs_resumes_without_loss_or_duplicates(
    ray_session, gcs: str, toy_cfg, toy_overrides, tmp_path
) -> None:
    kill_and_resume(uri(gcs, "killed"), toy_cfg, toy_overrides, ray_session, tmp_path)


def test_atlas_reads_a_dataset_on_gcs(gcs: str, tmp_path: Path) -> None:
    root = uri(gcs, "atlas")
    write_in_process(compose([*TOY, f"output.dir='{root}'"]))
    log = io.StringIO()
    index = build(root, tmp_path / "atlas", stream=log)
    assert index.is_file() and "2/2 entries" in log.getvalue()
    page = index.read_text()
    assert f"gs://{BUCKET}/atlas" in page and "anonymous@" not in page
    samples = read_samples(root, ["job_id", "sample"]).to_pylist()
    bands = [b for e in atlas_data(tmp_path / "atlas")["entries"]
             for b in entry_data(tmp_path / "atlas", e["page"])["bands"]]
    assert sorted(b["job"] for b in bands) == sorted(
        r["job_id"] for r in read_jobs(root).to_pylist() if r["n_samples"])
    for band in bands:
        assert band["sample"] == sorted(s["sample"] for s in samples if s["job_id"] == band["job"])
