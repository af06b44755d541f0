"""The store: PNG round trip, atomic shards, resume bookkeeping, and the documented reads."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.sampler import SampleSet
from pipeline.store import (
    JOBS,
    SAMPLES,
    JobRecord,
    StoreFormat,
    SweepStore,
    decode_png,
    encode_images,
    encode_png,
    job_table,
    open_store,
    read_jobs,
    read_manifest,
    read_samples,
    samples_table,
    shard_path,
    shards,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "dataset.md"


def fake_result(
    n: int, channels: int = 3, seed: int = 0, code_dim: int = 6, side: int = 5, feats: int = 2
) -> SampleSet:
    """A SampleSet with 8-bit inputs, as the sampler returns with quantize=True."""
    rng = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (n, channels, side, side + 2), generator=rng).float() / 255
    return SampleSet(
        codes=torch.randn(n, code_dim, generator=rng), inputs=inputs,
        activations=torch.rand(n, 1, generator=rng) + 1.0,
        features=torch.randn(n, feats, generator=rng),
        phase=["seed"] * min(n, 2) + ["sample"] * max(0, n - 2),
        step=torch.arange(n), chain=torch.arange(n) % 2, in_band=torch.ones(n, dtype=torch.bool),
        bands=[(1.0, 2.0)], feasible=True, stats={"seed_steps": 7, "sample_steps": 3},
    )


def record(job_id: str, status: str = "done", **extra: object) -> pa.Table:
    neurons = [{"layer": "fc", "unit": 1, "spatial": "center"}]
    return job_table(JobRecord(job_id, "sweep0", "fc:1", status, neurons, 4, 0, {"n": 4}, **extra))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_round_trip_is_exact(channels: int) -> None:
    result = fake_result(4, channels)
    decoded = torch.stack([decode_png(png) for png in encode_png(result.inputs)])
    assert torch.equal(decoded, result.inputs)


def test_png_refuses_non_images() -> None:
    with pytest.raises(ConfigError, match="images"):
        encode_png(torch.rand(2, 2, 4, 4))


def test_samples_table_matches_result_and_schema() -> None:
    result = fake_result(5)
    table = samples_table("j1", "fc:1", [{"layer": "fc", "unit": 1, "spatial": "center"}], result)
    assert table.schema.names == SAMPLES.names and table.num_rows == 5
    assert table.schema.remove(table.schema.get_field_index("features")) == SAMPLES.remove(
        SAMPLES.get_field_index("features"))  # small codes: float32
    assert table.column("sample").to_pylist() == list(range(5))
    codes = torch.tensor(table.column("code").to_pylist())
    assert torch.equal(codes, result.codes)
    features = torch.tensor(table.column("features").to_pylist())  # 2 dims: kept, float16
    assert torch.equal(features, result.features.half().float())
    assert table.column("phase").to_pylist() == result.phase
    with pytest.raises(ConfigError, match="activation columns"):
        samples_table("j1", "x", [{"layer": "a", "unit": 0, "spatial": "center"}] * 2, result)


NEURONS = [{"layer": "fc", "unit": 1, "spatial": "center"}]


@pytest.mark.parametrize(
    ("codes", "code_dim", "stored"),
    [("auto", 6, pa.float32()), ("auto", 2000, pa.float16()), ("auto", 3 * 32 * 34, None),
     ("float32", 2000, pa.float32()), ("float16", 6, pa.float16()), ("none", 6, None)],
)
def test_codes_are_stored_as_the_format_says(codes: str, code_dim: int, stored) -> None:
    result = fake_result(3, code_dim=code_dim, side=32)  # images of 3 x 32 x 34 values
    table = samples_table("j1", "fc:1", NEURONS, result, StoreFormat(codes=codes))
    values = table.column("code").to_pylist()
    if stored is None:
        assert values == [[], [], []]
        return
    assert table.schema.field("code").type == pa.list_(stored)
    exact = result.codes.half().float() if stored == pa.float16() else result.codes
    assert torch.equal(torch.tensor(values), exact)


def test_features_are_projected_to_a_fixed_compact_space() -> None:
    a, b = fake_result(4, feats=300, seed=1), fake_result(4, feats=300, seed=2)
    fmt = StoreFormat(features=16)
    first = samples_table("a", "fc:1", NEURONS, a, fmt).column("features").to_pylist()
    again = samples_table("a", "fc:1", NEURONS, a, fmt).column("features").to_pylist()
    assert len(first[0]) == 16 and first == again  # the same projection every time
    other = torch.tensor(samples_table("b", "fc:1", NEURONS, b, fmt).column("features").to_pylist())
    near = torch.cdist(torch.tensor(first), other)  # distances kept, roughly
    true = torch.cdist(a.features, b.features)
    assert ((near / true) - 1).abs().median() < 0.5
    none = samples_table("a", "fc:1", NEURONS, a, StoreFormat(features=0))
    assert none.column("features").null_count == 4


def test_webp_images_round_trip_and_are_read_back_as_float32(tmp_path: Path) -> None:
    result = fake_result(3, code_dim=2000, side=16)
    fmt = StoreFormat(image="webp")
    with SweepStore(tmp_path / "out", "s", {}, fmt) as store:
        table = samples_table("j1", "fc:1", NEURONS, result, fmt)
        store.write("j1", ("fc", 1), table, record("j1"))
    read = read_samples(tmp_path / "out")
    assert read.schema.field("code").type == pa.list_(pa.float32())
    assert read.column("image")[0].as_py()[:4] == b"RIFF"
    images = torch.stack([decode_png(x) for x in read.column("image").to_pylist()])
    assert torch.equal(images, result.inputs)
    assert encode_images(result.inputs[:, :1], "webp")[0][:4] == b"\x89PNG"  # gray: PNG


def test_bad_store_formats_are_config_errors() -> None:
    for bad in ({"codes": "int8"}, {"image": "jpeg"}, {"features": -1}):
        with pytest.raises(ConfigError, match="output."):
            StoreFormat.from_config(bad)


def test_job_table_columns_and_clean_json() -> None:
    table = record("j1", stats={"seed_steps": 7, "sample_steps": 3, "redundancy": 0.25,
                                "mu": float("inf"), "histogram": [1, 2]})
    row = table.to_pylist()[0]
    assert table.schema == JOBS
    assert (row["steps"], row["redundancy"], row["acceptance"]) == (10, 0.25, None)
    assert json.loads(row["stats"])["mu"] is None  # no NaN/inf in the JSON text
    with pytest.raises(ConfigError, match="status"):
        record("j2", status="lost")


def test_write_shard_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "part" / "a.parquet"
    old = pa.table({"x": [1, 2]})
    shards.write_shard(old, target)

    def broken(table: pa.Table, where: object, **kwargs: object) -> None:
        where.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        shards.write_shard(pa.table({"x": [3]}), target)
    with pytest.raises(OSError):
        shards.write_shard(pa.table({"x": [3]}), tmp_path / "part" / "b.parquet")
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.parquet"]
    monkeypatch.undo()
    assert pq.read_table(target).equals(old)


def test_store_resume_bookkeeping(tmp_path: Path) -> None:
    root = tmp_path / "out"
    result = fake_result(3)
    neurons = [{"layer": "fc", "unit": 1, "spatial": "center"}]
    with SweepStore(root, "sweep0", {"name": "a"}) as store:
        store.write("done1", ("fc", 1), samples_table("done1", "fc:1", neurons, result),
                    record("done1"))
        orphan = store.samples_path("lost1", "fc", 1)
        shards.write_shard(samples_table("lost1", "fc:1", neurons, result), orphan)
        (orphan.parent / ".x.parquet.123.tmp").write_bytes(b"partial")
        assert store.finished() == {"done1"}
    with SweepStore(root, "sweep1", {"name": "b"}) as store:
        assert store.orphans_removed == 1 and not orphan.exists()
        assert not list(root.rglob("*.tmp"))
        assert store.finished() == {"done1"}
    assert [s["hash"] for s in read_manifest(root)["sweeps"]] == ["sweep0", "sweep1"]
    assert read_samples(root).column("job_id").to_pylist() == ["done1"] * 3


def test_commit_needs_the_workers_shard_and_is_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = samples_table("w1", "fc:1", NEURONS, fake_result(3))
    with SweepStore(tmp_path / "out", "s", {}) as store:
        with pytest.raises(EnvironmentFault, match="not whole.*every Ray node sees"):
            store.commit("w1", ("fc", 1), 3, record("w1"))  # the worker's shard is elsewhere
        shard = shards.write_shard(table, shard_path(store.root, "w1", "fc", 1))
        monkeypatch.setattr(pq, "write_table", lambda *a, **k: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device")))
        with pytest.raises(EnvironmentFault, match="No space left"):
            store.commit("w1", ("fc", 1), 3, record("w1"))
        assert not shard.exists() and store.finished() == set()  # the job stays unfinished
        monkeypatch.undo()
        shards.write_shard(table, shard)
        store.commit("w1", ("fc", 1), 3, record("w1"))
        assert store.finished() == {"w1"}
    assert read_samples(tmp_path / "out").num_rows == 3


def test_store_refuses_foreign_or_busy_folders(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a sweep output") as err:
        SweepStore(foreign, "s", {})
    assert "\n" not in str(err.value)
    with SweepStore(tmp_path / "busy", "s", {}), pytest.raises(ConfigError, match="in use"):
        SweepStore(tmp_path / "busy", "s", {})
    with SweepStore(tmp_path / "busy", "s", {}) as again:  # the lock went with the first store
        assert again.finished() == set()
    with pytest.raises(ConfigError, match="unsupported scheme ftp://") as err:
        open_store("ftp://host/sweeps/toy", "s", {})  # not a local folder named ftp:
    assert "\n" not in str(err.value) and not Path("ftp:").exists()
    with pytest.raises(ConfigError, match="not a local folder"):
        SweepStore("s3://bucket/sweeps/toy", "s", {})
    assert not Path("s3:").exists()


def test_dataset_reads_agree_across_readers(toy_dataset: Path) -> None:
    arrow = read_samples(toy_dataset)
    frame = pd.read_parquet(toy_dataset / "samples")
    ducked = duckdb.sql(
        f"SELECT count(*), count(DISTINCT job_id || '/' || sample) FROM read_parquet("
        f"'{toy_dataset}/samples/**/*.parquet', hive_partitioning = true)"
    ).fetchall()[0]
    jobs = read_jobs(toy_dataset).to_pylist()
    stored = sum(j["n_samples"] for j in jobs)
    assert stored > 0 and arrow.num_rows == len(frame) == ducked[0] == ducked[1] == stored
    assert set(arrow.column("unit").to_pylist()) <= {0, 1}
    assert all(j["status"] in ("done", "partial", "infeasible") for j in jobs)
    assert arrow.schema.field("unit").type == pa.int32()


def test_documented_queries_run(toy_dataset: Path) -> None:
    text = DOC.read_text()
    blocks = re.findall(r"```(python|sql)\n(.*?)```", text, flags=re.S)
    assert [kind for kind, _ in blocks].count("sql") >= 3
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, str(DOC), "exec"), {"OUT": str(toy_dataset)})  # noqa: S102
        else:
            rows = duckdb.sql(code.replace("OUT", str(toy_dataset))).fetchall()
            assert isinstance(rows, list)
    per_band = next(code for kind, code in blocks if kind == "sql")
    rows = duckdb.sql(per_band.replace("OUT", str(toy_dataset))).fetchall()
    assert rows
    for layer, _unit, lo, hi, n, low, high in rows:  # every sample inside its (first) band
        assert layer in ("fc", "intersection") and n > 0 and lo <= low <= high <= hi
