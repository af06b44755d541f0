"""The benchmarks at their smallest settings, and bench/gpu.sh --cpu-smoke."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

import pipeline
from bench import (
    breakdown,
    coverage,
    efficiency,
    figure_kit,
    figures,
    figures_extra,
    gpu_measure,
    gpu_parallel,
    gpu_report,
    logistic,
    lucent_baseline,
    overhead,
    packing,
    quality,
    timeline,
)
from bench.common import chain_evaluations, evenly
from bench.features import efficientnet_features, pixel_features
from pipeline.zoo.cache import default_cache_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the test machine is shared, and spinning threads slow it down."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_gpu_script_cpu_smoke(tmp_path: Path) -> None:
    out = tmp_path / "GPU.md"
    env = {**os.environ, "INVERSE_SET_CACHE": str(default_cache_dir())}
    done = subprocess.run(
        [str(ROOT / "bench" / "gpu.sh"), "--cpu-smoke", "--presets", "faces", "--seconds", "120",
         "--window", "2", "--parallel", "2", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    rows = [json.loads(line) for line in (tmp_path / "gpu.jsonl").read_text().splitlines()]
    bare = [r for r in rows if r["kind"] == "bare"]
    assert {(r["rows"], r["variant"]) for r in bare} == {
        (rows_, v[0]) for rows_ in (4, 8) for v in gpu_measure.VARIANTS}
    assert all(r["seconds"] > 0 for r in bare)
    windows = [r for r in rows if r["kind"] == "window"]
    assert [r["chains"] for r in windows[:2]] == [10, 20]  # the scan, then the best twice
    assert [r.get("variant") for r in windows[2:]] == ["bf16-seeds", "channels_last"]
    assert all(r["iterations"] > 0 and r["evals_per_s"] > 0 for r in windows)
    assert windows[2]["precision"] == "bf16-seeds"
    assert [r["variant"] for r in rows if r["kind"] == "warm"] == [
        "float32", "bf16-seeds", "channels_last"]
    (both,) = [r for r in rows if r["kind"] == "parallel"]
    assert both["procs"] == 2 and both["chains"] == 10 and not both["errors"]
    assert both["steps_per_s"] > 0 and both["evals_per_s"] > 0
    assert "## Several sampler processes on one device" in text
    best = windows[2]["chains"]  # the scan's packing with the most evaluations/s
    assert best == max(windows[:2], key=lambda r: r["evals_per_s"])["chains"]
    assert "| faces | 4 | plain |" in text and f"| faces | {best} | channels_last |" in text
    assert "No `imagenet` window" in text  # faces only: no projection of the overnight sweep


def test_gpu_parallel_reports_a_failed_process_instead_of_waiting() -> None:
    from bench.gpu import overnight_jobs

    row = gpu_parallel.parallel("no-such-preset", 64, torch.device("cpu"), overnight_jobs, 5,
                                2, 10, 1.0, 8)
    assert row["kind"] == "parallel" and len(row["errors"]) == 2
    assert all("no-such-preset" in e for e in row["errors"]) and row["evals_per_s"] == 0


def test_gpu_report_projection() -> None:
    window = {"kind": "window", "preset": "imagenet", "chains": 640, "error": None,
              "evals_per_s": 50_000.0, "late_samples_per_s": 100.0}
    lines = gpu_report.projection([window], 3_000_000)
    assert "at 10 evaluations per sample: **10.0 minutes** (within" in lines[2]
    assert "at 30 evaluations per sample: **30.0 minutes** (over" in lines[3]
    assert "500.0 minutes" in lines[4]


def test_gpu_script_without_gpu_says_so() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([str(ROOT / "bench" / "gpu.sh"), "--seconds", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ConfigError: no CUDA device" in done.stderr


def test_logistic_smallest() -> None:
    rows = logistic.run(n=20, seeds=(0,))
    ours, fast = rows[0], rows[1]
    assert ours["variant"].startswith("default (ess")  # the default, beside the fast rows
    assert ours["n_returned"] == 20 and ours["feasibility"] == 1.0  # every sample in band
    assert ours["backward"] < ours["forward"]  # exploring is forward only
    assert fast["variant"].startswith("fast sampler") and fast["forward"] == fast["backward"] > 0
    assert fast["cost"] == fast["forward"] + 2 * fast["backward"]  # a backward is two forwards
    assert rows[-1]["variant"].startswith("independent uniform") and rows[-1]["cost"] is None
    lines = logistic.table(rows).splitlines()
    assert len(lines) == 2 + len(rows) and "fwd-equiv. / sample" in lines[0]


def test_efficiency_smallest() -> None:
    rows = efficiency.run(n=12, cases={"mnist": (["0"], ["typical"],
                                                 ["default (ess)", "fast sampler"])})
    assert len(rows) == 2 and [r["returned"] for r in rows] == [12, 12]
    ess, fast = rows
    # the ess default seeds from prior draws, so seed steps may be none; exploring is not
    assert ess["seed_steps"] >= 0 and ess["sample_steps"] >= 1
    assert ess["forward"] > ess["backward"]  # exploring steps are forward only
    assert fast["forward"] == fast["backward"] > 0  # every fast step has a backward
    assert "~85 (min. 49)" in efficiency.table(rows)


def test_overhead_smallest() -> None:
    defaults = "fast phase, defaults (tangent noise, normals every 4 steps)"
    rows = overhead.run(n=12, repeats=1, only=[defaults, overhead.ESS], size=64)
    assert [r["variant"] for r in rows] == [
        "bare G + network forward and backward",
        "bare, forward and two backwards (loss + one normal)",
        "bare G + network forward (no_grad)",
        "fast sampler's seed phase step",
        defaults,
        overhead.ESS,
    ]
    assert rows[0]["ratio"] == 1.0
    assert all(r["seconds"] > 0 and r["ratio"] > 0 for r in rows)  # no NaN: both phases ran


def test_packing_and_ray_smallest(ray_session) -> None:
    rows = packing.packing(count=2, n=10, packs=(1, 2))
    assert [r["samples"] for r in rows] == [20] * 4
    assert [r["setting"].split(":")[0] for r in rows] == ["ess", "ess", "fast", "fast"]
    ray_rows = packing.ray_scaling(actors=(1,), units=1, n=10)
    assert ray_rows[0]["samples"] == 2 * 10  # one neuron x two bands
    assert "speed-up" in packing.table(rows + ray_rows)


def test_device_efficiency_smallest_reads_the_actors_cpu(ray_session) -> None:
    row = packing.device_efficiency(units=1, n=5, actors=1, batch=1)
    assert row["jobs"] == 2 and row["actors"] == 1
    assert 0 < row["bare"] and 0 < row["actors_cpu"] < 10 * row["wall"]  # one actor's, in s
    assert 0 < row["efficiency"] and 0 < row["cpu_share"] == row["bare"] / row["actors_cpu"]
    assert "bare / actors' CPU" in packing.efficiency_table([row])
    assert row["verify"] >= row["samples"] > 0  # verification's rows: every kept sample, at least
    forward, backward = (int(x) for x in row["evaluations"].split(" / "))
    cost = row["row_seconds"]
    assert min(cost.values()) > 0
    assert row["bare"] == pytest.approx((forward - backward) * cost["forward"]  # all are in it
                                        + backward * cost["backward"]
                                        + row["verify"] * cost["verify"])
    spent = row["timeline"]  # each actor's share of the wall time, cut into segments
    total = row["wall"] * row["actors"]
    assert sum(spent[name] for name in timeline.SEGMENTS) == pytest.approx(total, rel=1e-6)
    assert spent["start (process, imports, models)"] > 0 and spent[timeline.SEGMENTS[3]] > 0
    assert 0 < spent["sampling threads' CPU"] < row["actors_cpu"]
    assert "tail (after its last job)" in packing.efficiency_report([row])


def test_timeline_split_adds_up_to_the_wall_time() -> None:
    actor = {"process": 5.0, "ready": 12.0, "busy": [(20.0, 30.0), (13.0, 18.0)],
             "sampling_cpu": 9.0}
    cut = timeline.split(actor, begin=10.0, end=40.0)  # the process started before the run
    assert list(cut.values()) == [0.0, 2.0, 1.0, 9.0, 6.0, 2.0, 10.0]
    assert sum(cut.values()) == 30.0
    idle = timeline.split({**actor, "busy": []}, begin=10.0, end=40.0)
    assert idle[timeline.SEGMENTS[2]] == 28.0 and sum(idle.values()) == 30.0


def test_breakdown_smallest_accounts_for_the_sampling_time(ray_session) -> None:
    result = breakdown.breakdown(units=1, n=5)
    assert result["jobs"] == 2 and set(result["statuses"]) <= {"done", "partial"}
    stages = result["stages"]
    assert 0 < result["bare"] and result["actor_start"] > 0 and result["model_load"] > 0
    assert result["actor_start_cpu"] > 0 and "its process's CPU time" in breakdown.table(result)
    assert stages["evaluations (evaluate_batch)"] > 0 and stages[breakdown.WRITER[1]] > 0
    sampling = sum(sec for name, sec in stages.items() if name not in breakdown.WRITER)
    assert sampling < result["total"]  # the stages of the sampling thread fit in its time
    text = breakdown.table(result)
    assert "sampler bookkeeping" in text and "| bare evaluations" in text
    lengths = breakdown.lengths_table(result)
    assert len(result["lengths"]) == 2 and lengths.count("[(0.") == 2  # each job, its band


def test_start_cpu_smallest() -> None:
    imports, load = breakdown.start_cpu("mnist")
    assert imports > 0 and load >= 0


def test_quality_smallest_spends_the_budget() -> None:
    only = ["fast sampler (with remedies)", "PPGN-style Langevin"]
    rows, setting = quality.run("mnist", budget=1000, m=5, only=only)
    by = {r["method"]: r for r in rows}
    assert by["PPGN-style Langevin"]["evaluations"] == 1000
    assert by["fast sampler (with remedies)"]["evaluations"] <= 1000
    assert by["fast sampler (with remedies)"]["feasibility"] == 1.0
    assert by["fast sampler (with remedies)"]["used"] == 5
    assert "pixels 28x28: mean / NN dist." in quality.table(rows, setting)


def test_quality_ess_row_spends_the_budget_in_forward_equivalents() -> None:
    only = [quality.ESS, "fast sampler (with remedies)"]
    rows, setting = quality.run("mnist", budget=300, m=5, only=only)
    ess, fast = rows
    assert ess["method"] == quality.ESS and ess["feasibility"] == 1.0  # its samples in band
    assert ess["used"] == 5 and ess["produced"] >= 5
    assert 3 * 300 <= ess["cost"] < 3 * 300 + 200  # 3B, overshooting by at most a step
    assert ess["cost"] < 3 * ess["evaluations"]  # exploring is forward only
    assert fast["cost"] == 3 * fast["evaluations"]  # every fast step has a backward
    assert "(900 forward-equivalents)" in quality.table(rows, setting)


def test_second_feature_spaces() -> None:
    images = torch.rand(3, 3, 64, 64)
    feats = efficientnet_features()(images)
    assert feats.shape == (3, 1280) and torch.isfinite(feats).all()
    assert pixel_features(16)(images).shape == (3, 3 * 16 * 16)
    assert evenly(10, 4).tolist() == [0, 3, 6, 9]


def test_lucent_baseline_renders_or_says_how_to_install() -> None:
    why = lucent_baseline.missing()
    if why is not None:
        assert lucent_baseline.INSTALL in why
        return
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
    images = lucent_baseline.render(net, "2", 1, "0", batch=2, steps=4, size=32, snapshots=2)
    assert images.shape == (4, 3, 32, 32)
    assert 0 <= float(images.min()) and float(images.max()) <= 1


def test_chain_evaluations_count_every_evaluation() -> None:
    res = pipeline.InverseSetSampler(pipeline.PixelGenerator((8,)), None,
                                     [(lambda x: x.sum(dim=1), 3.0, 5.0)], k=2,
                                     method="joint", code_dim=8).sample(4, seed=0)
    assert chain_evaluations(res) == 4 * (res.stats["seed_steps"] + 1)


def test_coverage_smallest() -> None:
    rows = coverage.rows_for(coverage.logistic(), n=40)
    assert [r["method"] for r in rows] == ["exact (rejection)", *coverage.FIRST]
    ours = rows[1]
    assert ours["returned"] == 40 and ours["bwd"] < ours["fwd"] and ours["recall"] > 0.5
    assert ours["recall"] > rows[2]["recall"]  # the fast sampler's clusters
    assert len(coverage.table(rows).splitlines()) == 2 + len(rows)


def test_coverage_rows_selected(capsys: pytest.CaptureFixture) -> None:
    high = dataclasses.replace(coverage.logistic(), reference=False)
    (row,) = coverage.iter_rows(high, n=40, methods=("default (ess)",))
    assert row["returned"] == 40 and row["rhat"] is not None and "recall" not in row
    cells = coverage.line(row, None, coverage.HIGH_COLUMNS).split(" | ")
    assert len(cells) == len(coverage.HIGH_COLUMNS) and "done" in cells
    coverage.main(["--sets", "logistic", "--methods", "eq14", "--n", "20", "--no-exact"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "(eq. 14)" in out[2]


def test_figures_quick(tmp_path: Path) -> None:
    numbers = tmp_path / "FIGURES.md"
    numbers.write_text("# old\n\n## Figure 9\n\nkept\n\n## Figure 4\n\nstale\n")
    figures.main(["--quick", "--only", "4", "--img-dir", str(tmp_path), "--numbers",
                  str(numbers)])
    assert (tmp_path / "exp-fig4.png").stat().st_size > 1000
    text = numbers.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| sunglasses")]
    assert len(rows) == 2 and all("| 1.00 |" in row for row in rows)
    assert "stale" not in text and text.index("## Figure 4") < text.index("kept")
    assert "--only 4 --quick" in text


@pytest.mark.parametrize("name", ["3", "6"])
def test_figures_3_and_6_quick(tmp_path: Path, name: str) -> None:
    ctx = figure_kit.Context(tmp_path, quick=True, size=64)
    rows, text = figures.FIGURES[name](ctx)
    preset = ctx.preset("faces") if name == "3" else ctx.preset("faces-efficientnet")
    f = (preset.neuron(figures_extra.HIDDEN_CHANNEL, layer=figures_extra.HIDDEN_LAYER)
         if name == "3" else preset.neuron(figures_extra.LOGIT))
    runs = list(ctx.runs.values())
    assert len(rows) == 4 and len(runs) == 2 and "random faces" in text
    lower, upper = (run.result.bands[0] for run in runs)
    assert lower[1] <= upper[0]  # the upper band starts at the 99% quantile
    for run in runs:
        (lo, hi), inputs = run.result.bands[0], run.result.inputs
        assert inputs.shape[0] >= 2 and run.result.status in ("done", "partial")
        acts = f(inputs)
        assert bool(((acts >= lo - 1e-4) & (acts <= hi + 1e-4)).all()), (lo, hi, acts)
        assert float((inputs - inputs[:1]).abs().mean(dim=(1, 2, 3)).max()) > 0.01  # not one
    png = figure_kit.save_rows(rows, tmp_path / f"exp-fig{name}.png")
    assert png.stat().st_size > 1000
