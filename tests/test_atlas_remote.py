"""The atlas of a dataset on an object store (moto's S3 server, on 127.0.0.1): read through
pyarrow.fs, written locally, its pages showing the stored samples of every band."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from PIL import Image

from pipeline.atlas import AtlasSettings, build
from pipeline.store import jobcache, read_jobs, read_samples
from pipeline.sweep import compose
from tests.conftest import TOY, write_in_process
from tests.test_atlas import atlas_data, entry_data
from tests.test_store_s3 import endpoint, s3_env, uri  # noqa: F401 - fixtures used below

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def remote(endpoint: str) -> str:  # noqa: F811 - the imported fixture
    """A toy dataset (2 units x 2 bands and an intersection) written to S3, as a sweep's
    store writes it."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ENDPOINT_URL", endpoint)
    mp.setenv("AWS_REGION", "us-east-1")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    try:
        root = uri("atlas/toy")
        cfg = compose([*TOY, f"output.dir='{root}'",
                       "neurons.intersections=[{name: both, members: [{unit: 0}, {unit: 1}]}]"])
        assert write_in_process(cfg) == root
    finally:
        mp.undo()
    return root


def _first_cell(out: Path, band: dict) -> np.ndarray:
    with Image.open(out / band["sheet"].removeprefix("../")) as sheet:
        return np.asarray(sheet.convert("RGB").crop((0, 0, band["cell"], band["cell"])))


@pytest.mark.usefixtures("s3_env")
def test_atlas_reads_a_dataset_on_s3(remote: str, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "atlas"
    log = io.StringIO()
    index = build(remote, out, AtlasSettings(per_band=4), stream=log)
    assert index == out / "index.html" and "3/3 entries" in log.getvalue()
    data = atlas_data(out)
    jobs = read_jobs(remote).to_pylist()
    assert {e["name"] for e in data["entries"]} == {r["target"] for r in jobs}
    for entry in data["entries"]:
        bands = entry_data(out, entry["page"])["bands"]
        mine = [r for r in jobs if r["target"] == entry["name"] and r["n_samples"]]
        assert sorted(b["job"] for b in bands) == sorted(r["job_id"] for r in mine)
        for band in bands:
            rows = sorted(read_samples(remote, ["sample", "activations", "image"],
                                       pc.field("job_id") == band["job"]).to_pylist(),
                          key=lambda r: r["sample"])
            assert band["sample"] == [r["sample"] for r in rows] and band["n"] == len(rows) > 0
            assert band["act"][0][0] == pytest.approx(rows[0]["activations"][0], rel=1e-5)
            with Image.open(io.BytesIO(rows[0]["image"])) as first:
                assert np.array_equal(_first_cell(out, band), np.asarray(first.convert("RGB")))
            assert (out / band["page"].removeprefix("../")).is_file()
    page = (out / "index.html").read_text() + (out / "atlas-manifest.json").read_text()
    assert "s3://sweeps/atlas/toy" in page and "testing:testing" not in page  # no secret

    reads: list[int] = []
    real = jobcache.read_job_files
    monkeypatch.setattr(jobcache, "read_job_files",
                        lambda root, paths: reads.append(len(paths)) or real(root, paths))
    rebuilt = io.StringIO()
    build(remote, out, AtlasSettings(per_band=4), stream=rebuilt)
    assert reads == [] and "3/3 entries" in rebuilt.getvalue()  # records cached, none read


def test_atlas_command_builds_from_s3_into_the_current_folder(
    remote: str, endpoint: str, tmp_path: Path  # noqa: F811 - the imported fixture
) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.atlas", f"dataset='{remote}'", "workers=2",
         f"hydra.run.dir={tmp_path / 'hydra'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(tmp_path / "toy_atlas" / "index.html")
    assert len(atlas_data(tmp_path / "toy_atlas")["entries"]) == 3
