"""The atlas: selection, pages, thumbnails, figures, escaping, incremental rebuilds, config.

The dataset is synthetic (bench/atlas.py writes it with the store's own writer), no sampler.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from PIL import Image

from bench.atlas import synthetic_dataset
from pipeline.atlas import AtlasSettings, Filters, build, build_from_config, compose, default_out
from pipeline.atlas.catalog import BandJob, slug
from pipeline.atlas.diagnostics import diagnostics, status_counts
from pipeline.atlas.images import thumbnail
from pipeline.atlas.projection import project
from pipeline.atlas.samples import band_samples
from pipeline.atlas.select import farthest_first
from pipeline.atlas.sprites import write_sheet
from pipeline.errors import ConfigError
from pipeline.store import JobRecord, SweepStore, job_table, read_jobs, read_samples
from pipeline.zoo.labels import imagenet_labels

EVIL = '<script>alert(1)</script> "quotes" & \'apostrophes\''
NEURONS, BANDS, SAMPLES = 8, 6, 12
ROOT = Path(__file__).resolve().parents[1]


def atlas_data(out: Path) -> dict:
    """The index data of an atlas (``window.ATLAS = {...};``)."""
    text = (out / "data" / "atlas.js").read_text()
    assert text.startswith("window.ATLAS = ") and text.rstrip().endswith(";")
    return json.loads(text[len("window.ATLAS = "):].rstrip().rstrip(";"))


def page_of(data: dict, name: str) -> str:
    return next(e["page"] for e in data["entries"] if e["name"] == name)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("atlas") / "dataset"
    return synthetic_dataset(root, NEURONS, BANDS, SAMPLES, size=12, intersections=[(EVIL, [0, 1])])


@pytest.fixture(scope="module")
def built(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "atlas"
    log = io.StringIO()
    build(dataset, out, AtlasSettings(per_band=5, figure_per_row=6), stream=log)
    assert f"{NEURONS + 1}/{NEURONS + 1} entries" in log.getvalue() and "ETA" in log.getvalue()
    return out


def test_farthest_first_spreads_over_clusters_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    # 30 points of cluster 0 first, so "the first n" would show only one cluster
    sizes = (30, 5, 5)
    points = np.concatenate(
        [c + 0.01 * rng.normal(size=(n, 2)) for c, n in zip(centres, sizes, strict=True)]
    )
    order = farthest_first(points, 3)
    clusters = {int(np.argmin(np.linalg.norm(centres - points[i], axis=1))) for i in order}
    assert clusters == {0, 1, 2}
    assert order == farthest_first(points, 3)
    everything = farthest_first(points)
    assert sorted(everything) == list(range(len(points))) and everything[:3] == order
    assert farthest_first(points[:2], 10) == farthest_first(points[:2])
    assert farthest_first(np.zeros((0, 2)), 3) == []


def test_index_lists_every_entry_with_labels_and_summaries(dataset: Path, built: Path) -> None:
    data = atlas_data(built)
    jobs = read_jobs(dataset).to_pylist()
    targets = {r["target"] for r in jobs}
    assert {e["name"] for e in data["entries"]} == targets
    names = imagenet_labels()
    for entry in data["entries"]:
        mine = [r for r in jobs if r["target"] == entry["name"]]
        reached = [r for r in mine if r["status"] in ("done", "partial") and r["n_samples"]]
        assert entry["bands"] == len(mine) and entry["reached"] == len(reached)
        assert entry["statuses"] == {s: sum(r["status"] == s for r in mine)
                                     for s in ("done", "partial", "infeasible", "failed")}
        assert entry["samples"] == sum(r["n_samples"] for r in mine)
        assert (built / entry["page"]).is_file()
        if entry["kind"] == "neuron":
            assert entry["label"] == names[entry["unit"]]
            assert (built / entry["preview"]).is_file()
    assert data["page_size"] == AtlasSettings().page_size


def entry_data(out: Path, page: str) -> dict:
    """The data script of an entry page (``window.ENTRY = {...};``)."""
    text = (out / "data" / "entries" / f"{Path(page).stem}.js").read_text()
    assert text.startswith("window.ENTRY = ") and "<" not in text
    return json.loads(text[len("window.ENTRY = "):].rstrip().rstrip(";"))


def stored(dataset: Path, target: str) -> dict[str, list]:
    """The stored samples of a target by job id, in sample order."""
    rows = read_samples(dataset, ["job_id", "sample", "activations", "features", "image", "chain"],
                        pc.field("target") == target).to_pylist()
    by_job: dict[str, list] = {}
    for row in sorted(rows, key=lambda r: r["sample"]):
        by_job.setdefault(row["job_id"], []).append(row)
    return by_job


def test_neuron_page_rows_high_to_low_with_diverse_samples(dataset: Path, built: Path) -> None:
    data = atlas_data(built)
    html = (built / page_of(data, "classifier.1:2")).read_text()
    heads = re.findall(r'<section class="band reached[^"]*" data-job="(\w+)"><header><h3>'
                       r'<i class="swatch"[^>]*></i>\[([-\d.e]+), ([-\d.e]+)\]', html)
    his = [float(hi) for _, _, hi in heads]
    by_job = stored(dataset, "classifier.1:2")
    assert len(heads) == len(by_job) and his == sorted(his, reverse=True)
    assert "data:" not in html and "base64" not in html and "<img" not in html
    for job_id, _, _ in heads:
        rows = by_job[job_id]
        section = html.split(f'data-job="{job_id}"')[1].split("</section>")[0]
        cells = re.findall(r'data-i="(\d+)" title="activation ([^ ]+) \| sample (\d+)', section)
        expected = farthest_first(np.array([r["features"] for r in rows]), 5)
        assert [int(i) for i, _, _ in cells] == expected
        for i, act, sample in cells:
            assert int(sample) == rows[int(i)]["sample"]
            assert float(act) == pytest.approx(rows[int(i)]["activations"][0], rel=1e-5)
        assert f"url(../sprites/{job_id}.png)" in section
        assert f'href="../bands/{job_id}.html">all {len(rows)} samples' in section
    assert html.count('<svg class="hist"') == len(by_job)
    assert html.count("<rect") == len(by_job) * AtlasSettings().bins
    assert 'href="../figures/' in html and 'href="../index.html"' in html
    assert '<canvas id="map"' in html and "its E-features, one projection" in html


def test_sprite_sheets_hold_every_sample_at_its_slot(dataset: Path, built: Path) -> None:
    data = atlas_data(built)
    page = page_of(data, "classifier.1:2")
    entry = entry_data(built, page)
    by_job = stored(dataset, "classifier.1:2")
    assert {b["job"] for b in entry["bands"]} == set(by_job)
    for band in entry["bands"]:
        rows = by_job[band["job"]]
        assert band["n"] == len(rows) == len(band["x"]) == len(band["act"])
        assert band["sample"] == [r["sample"] for r in rows]
        assert sorted(band["diverse"]) == list(range(len(rows)))
        assert band["chain"] == [r["chain"] for r in rows]
        with Image.open(built / band["sheet"].removeprefix("../")) as sheet:
            sheet = sheet.convert("RGB")
            assert sheet.width == band["cols"] * band["cell"]
            for i, row in enumerate(rows):
                x, y = (i % band["cols"]) * band["cell"], (i // band["cols"]) * band["cell"]
                crop = sheet.crop((x, y, x + band["cell"], y + band["cell"]))
                with Image.open(io.BytesIO(row["image"])) as image:
                    assert np.array_equal(np.asarray(crop), np.asarray(image.convert("RGB")))
        assert all(0 <= v <= 1 for v in band["x"] + band["y"])
    # O(neurons x bands) files: one sheet and one page per reached band, none per sample
    reached = sum(e["reached"] for e in data["entries"])
    assert len(list((built / "sprites").iterdir())) == len({
        r["job_id"] for r in read_jobs(dataset).to_pylist() if r["n_samples"]})
    assert len(list((built / "bands").iterdir())) >= reached
    assert not (built / "thumbs").exists()


def test_map_is_one_projection_of_all_bands() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, 30)
    line = t[:, None] * rng.normal(size=(1, 6)) + 0.01 * rng.normal(size=(30, 6))
    low, high, other = line[:20], line[20:], rng.normal(size=(4, 3))
    xy = project([low, high, other])
    assert xy[0].shape == (20, 2) and xy[1].shape == (10, 2) and np.isnan(xy[2]).all()
    first = np.concatenate([xy[0][:, 0], xy[1][:, 0]])
    assert abs(np.corrcoef(first, t)[0, 1]) > 0.99  # the line lies along the first axis
    assert np.nanmin(first) >= 0 and np.nanmax(first) <= 1
    assert (xy[1][:, 0] > xy[0][:, 0].max()).all() or (xy[1][:, 0] < xy[0][:, 0].min()).all()
    with pytest.raises(ConfigError, match="map"):
        project([low], "tsne")
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(ConfigError, match="umap-learn"):
            project([low, high], "umap")
    else:
        assert project([low, high], "umap")[0].shape == (20, 2)


def test_unreached_and_failed_bands_are_explained(dataset: Path, built: Path) -> None:
    data = atlas_data(built)
    jobs = read_jobs(dataset).to_pylist()
    infeasible = next(r for r in jobs if r["status"] == "infeasible")
    html = (built / page_of(data, infeasible["target"])).read_text()
    assert "band not reached within the budget; closest activation reached" in html
    failed = [r for r in jobs if r["status"] == "failed"]
    for record in failed:
        assert escape(record["error"]) in (built / page_of(data, record["target"])).read_text()


def test_intersection_links_both_ways(built: Path) -> None:
    data = atlas_data(built)
    inter = (built / page_of(data, EVIL)).read_text()
    for name in ("classifier.1:0", "classifier.1:1"):
        assert f'href="{Path(page_of(data, name)).name}"' in inter
        neuron_page = (built / page_of(data, name)).read_text()
        assert f'href="{Path(page_of(data, EVIL)).name}"' in neuron_page
    assert inter.count('<svg class="hist"') == 2 * BANDS  # one histogram per member and band


def test_labels_and_names_are_escaped(dataset: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join([EVIL, "fine"] * NEURONS) + "\n")
    out = tmp_path / "atlas"
    build(dataset, out, AtlasSettings(labels=str(labels), figure=False))
    data = atlas_data(out)
    assert [e["label"] for e in data["entries"] if e["name"] == "classifier.1:0"] == [EVIL]
    assert "<" not in (out / "data" / "atlas.js").read_text()  # no "</script>" in the data
    pages = [p.read_text() for p in (out / "pages").glob("*.html")] + [
        (out / "index.html").read_text()
    ]
    assert sum(escape(EVIL) in page for page in pages) >= 3  # both neurons' pages, intersection
    for page in pages:
        assert "<script>alert" not in page and '"quotes"' not in page


def test_figure_has_a_row_per_band(built: Path) -> None:
    data = atlas_data(built)
    entry = next(e for e in data["entries"] if e["reached"] == BANDS and e["kind"] == "neuron")
    name = Path(entry["page"]).stem
    with Image.open(built / "figures" / f"{name}.png") as figure:
        width, height = figure.size
        dpi = figure.info["dpi"]
    cell = 12 * 8  # 12 px images upscaled to at least 96 px
    assert width > 6 * cell > 0 and BANDS * cell < height < (BANDS + 2) * cell
    assert round(dpi[0]) == 300


def mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_rebuild_touches_only_what_changed(tmp_path: Path) -> None:
    dataset = synthetic_dataset(tmp_path / "dataset", 4, 3, 6, size=8)
    out = tmp_path / "atlas"
    build(dataset, out)
    before = mtimes(out)
    log = io.StringIO()
    build(dataset, out, stream=log)
    assert "(0 built, 4 up to date)" in log.getvalue()
    assert mtimes(out) == before
    # a resumed sweep: one new neuron, and a failed job rerun with a new record
    synthetic_dataset(dataset, bands=3, samples=6, size=8, units=[4], seed=1)
    failed = next(r for r in read_jobs(dataset).to_pylist() if r["target"] == "classifier.1:0")
    with SweepStore(dataset, failed["sweep"], {"name": "synthetic"}) as store:
        record = JobRecord(failed["job_id"], failed["sweep"], failed["target"], "infeasible",
                           failed["neurons"], 6, 0, json.loads(failed["config"]),
                           bands=[(b["lo"], b["hi"]) for b in failed["bands"]])
        store.write(failed["job_id"], ("classifier.1", 0), None, job_table(record))
    log = io.StringIO()
    build(dataset, out, stream=log)
    assert "(2 built, 3 up to date)" in log.getvalue()
    after = mtimes(out)
    changed = {f for f in after if before.get(f) != after[f]}
    new_pages = {f"pages/{slug(n)}.html" for n in ("classifier.1:0", "classifier.1:4")}
    assert new_pages <= changed
    assert {f for f in changed if f.startswith("pages/")} == new_pages
    assert not any(f.startswith("sprites/") and f in before for f in changed)
    assert not (out / "sprites" / f"{failed['job_id']}.png").exists()  # its samples are gone
    assert "data/atlas.js" in changed and "assets/index.js" not in changed
    # narrowing the filters removes the other entries' files
    build(dataset, out, AtlasSettings(filters=Filters(targets=("classifier.1:4",))))
    assert [p.name for p in (out / "pages").iterdir()] == [f"{slug('classifier.1:4')}.html"]
    assert len(list((out / "sprites").iterdir())) == 3
    assert len(list((out / "bands").iterdir())) == 3


def test_filters_on_labels_layers_and_sweeps(dataset: Path, tmp_path: Path) -> None:
    names = imagenet_labels()
    sharks = {f"classifier.1:{u}" for u in range(NEURONS) if "shark" in names[u]}
    assert sharks
    build(dataset, tmp_path / "a", AtlasSettings(filters=Filters(targets=("*shark*",))))
    assert {e["name"] for e in atlas_data(tmp_path / "a")["entries"]} == sharks
    build(dataset, tmp_path / "b", AtlasSettings(filters=Filters(sweeps=("other",))))
    assert atlas_data(tmp_path / "b")["entries"] == []
    build(dataset, tmp_path / "c", AtlasSettings(filters=Filters(layers=("classifier.1",))))
    assert len(atlas_data(tmp_path / "c")["entries"]) == NEURONS + 1


def test_unknown_preset_falls_back_to_layer_unit(tmp_path: Path) -> None:
    dataset = synthetic_dataset(tmp_path / "d", 2, 1, 3, size=4, preset="toy", layer="fc")
    build(dataset, tmp_path / "a")
    assert [e["label"] for e in atlas_data(tmp_path / "a")["entries"]] == ["fc:0", "fc:1"]
    labels = tmp_path / "labels.txt"
    labels.write_text("zero\none\n")
    with pytest.raises(ConfigError, match="labels_layer"):
        build(dataset, tmp_path / "b", AtlasSettings(labels=str(labels)))
    build(dataset, tmp_path / "b", AtlasSettings(labels=str(labels), labels_layer="fc"))
    assert [e["label"] for e in atlas_data(tmp_path / "b")["entries"]] == ["zero", "one"]


def test_bad_settings_and_folders_raise_config_errors(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown atlas settings"):
        AtlasSettings.from_dict({"per_bnd": 3})
    with pytest.raises(ConfigError, match="per_band"):
        AtlasSettings(per_band=0)
    with pytest.raises(ConfigError, match="select_on"):
        AtlasSettings(select_on="pixels")
    with pytest.raises(ConfigError, match="atlas map"):
        AtlasSettings(map="tsne")
    with pytest.raises(ConfigError, match="workers"):
        AtlasSettings(workers=-1)
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(ConfigError, match="pip install umap-learn"):
            AtlasSettings(map="umap")
    with pytest.raises(ConfigError, match="filters"):
        AtlasSettings.from_dict({"filters": {"layer": ["fc"]}})
    with pytest.raises(ConfigError, match="not a sweep output"):
        build(tmp_path, tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        build(dataset, tmp_path / "busy")
    with pytest.raises(ConfigError, match="inside the dataset"):
        build(dataset, dataset / "atlas")


def test_config_composes_and_builds(dataset: Path, tmp_path: Path) -> None:
    cfg = compose([f"dataset={dataset}", f"out={tmp_path / 'a'}", "per_band=2",
                   "select_on=image", "filters.targets=[classifier.1:3]"])
    index = build_from_config(cfg, stream=io.StringIO())
    assert index == tmp_path / "a" / "index.html"
    [entry] = atlas_data(tmp_path / "a")["entries"]
    html = (tmp_path / "a" / entry["page"]).read_text()
    assert entry["name"] == "classifier.1:3"
    assert html.count('class="cell" role="img"') == 2 * entry["reached"]
    with pytest.raises(ConfigError, match="no dataset"):
        build_from_config(compose([]))
    assert default_out(dataset) == dataset.with_name("dataset_atlas")


def test_command_line_prints_the_index(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.atlas", f"dataset={dataset}", f"out={out}", "figure=false",
         "filters.targets=[classifier.1:1]"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "index.html")
    assert "1/1 entries" in done.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["cli"]
    bad = subprocess.run([sys.executable, "-m", "pipeline.atlas", f"dataset={tmp_path}"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("ConfigError: ")


def test_map_uses_stored_features_else_codes(dataset: Path) -> None:
    rows = read_samples(dataset, None, pc.field("target") == "classifier.1:2")
    rows = rows.filter(pc.field("job_id") == rows.column("job_id")[0]).sort_by("sample")
    stored_features = np.array(rows.column("features").to_pylist(), dtype=np.float32)
    with_features = band_samples(rows, "j", "code")
    assert with_features.source == "features" and stored_features.shape[1] == 4
    assert np.array_equal(with_features.features, stored_features)
    assert with_features.diverse == farthest_first(stored_features)
    codes = np.array(rows.column("code").to_pylist(), dtype=np.float32)
    for older in (rows.drop_columns(["features"]),  # a dataset written before the column
                  rows.set_column(rows.schema.get_field_index("features"), "features",
                                  pa.nulls(rows.num_rows, pa.list_(pa.float32())))):
        by_code = band_samples(older, "j", "code")
        assert by_code.source == "code" and np.array_equal(by_code.features, codes)
        assert by_code.diverse == farthest_first(codes)


def test_statuses_and_diagnostics_per_entry() -> None:
    def job(status: str, n: int, **stats: float) -> BandJob:
        record = {"status": status, "n_samples": n, "edge_share": stats.pop("edge", None)}
        return BandJob(record, {}, stats)

    jobs = [job("done", 10, rhat=1.02, ess=8.0, evals_per_sample=4.0, edge=0.01),
            job("partial", 4, rhat=1.3, ess=2.0, evals_per_sample=8.0, edge=0.2),
            job("infeasible", 0, rhat=9.0), job("failed", 0), job("weird", 0)]
    assert [j.reached for j in jobs] == [True, True, False, False, False]
    assert status_counts(jobs) == {"done": 1, "partial": 1, "infeasible": 1, "failed": 2}
    assert diagnostics(jobs) == {"rhat": 1.3, "ess": 2.0, "evals": 6.0, "edge": 0.2}
    assert diagnostics(jobs[2:]) == dict.fromkeys(("rhat", "ess", "evals", "edge"))


def test_sprite_sheets_and_previews_from_webp_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, size=(10 + i, 12, 3), dtype=np.uint8) for i in range(5)]
    stored = []
    for array in pixels:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="WEBP", lossless=True, exact=True)
        stored.append(buffer.getvalue())
    sheet = write_sheet(tmp_path, "job", stored, 64)
    assert (sheet.cell, sheet.cols, sheet.count) == (14, 3, 5)
    with Image.open(tmp_path / sheet.path) as image:
        grid = np.asarray(image.convert("RGB"))
    for i, array in enumerate(pixels):
        x, y = sheet.offset(i)
        top, left = y + (14 - array.shape[0]) // 2, x + (14 - array.shape[1]) // 2
        assert np.array_equal(grid[top:top + array.shape[0], left:left + array.shape[1]], array)
    preview = thumbnail(stored[0], 64)
    assert preview.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(preview)) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), pixels[0])
