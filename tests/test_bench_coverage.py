"""The coverage table's independent feature space and the overnight slice, at toy sizes."""

from __future__ import annotations

import pytest
import torch

import pipeline
from bench import coverage, overnight_slice
from bench.features import efficientnet_features
from pipeline.store.schema import STATUSES


@pytest.fixture(scope="module")
def lite0() -> coverage.Features:
    """EfficientNet-Lite0 features at 64 px (small: the test machine is shared)."""
    torch.set_num_threads(1)
    return efficientnet_features(size=64)


def image_set(features: coverage.Features) -> coverage.Setup:
    """A linear unit on 3 x 16 x 16 sigmoid pixels, band [-2, 2] (most of the prior)."""
    gen = torch.Generator().manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 1))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(1, 3 * 16 * 16, generator=gen) / 8)
        model[1].bias.fill_(-float(model[1].weight.sum()) / 2)
    f = pipeline.neuron(model, "1", 0)
    return coverage.Setup("toy images", pipeline.PixelGenerator((3, 16, 16)), None,
                          [(f, -2.0, 2.0)], independent=features)


def test_independent_recall_drops_for_a_collapsed_set(lite0) -> None:
    G = pipeline.PixelGenerator((3, 16, 16))
    draw = torch.Generator().manual_seed(0)
    reference = lite0(G(torch.randn(40, G.code_dim, generator=draw)))
    spread = coverage.independent(lite0, G(torch.randn(40, G.code_dim, generator=draw)),
                                  reference)
    one = torch.randn(1, G.code_dim, generator=draw)
    collapsed = coverage.independent(
        lite0, G(one + 0.01 * torch.randn(40, G.code_dim, generator=draw)), reference)
    assert 0.0 <= collapsed["recall_ind"] < spread["recall_ind"] <= 1.0
    assert spread["recall_ind"] > 0.5
    assert coverage.independent(None, G(one), reference) == {}


def test_coverage_rows_have_both_spaces(lite0) -> None:
    rows = coverage.rows_for(image_set(lite0), n=30, methods=("default (ess)",))
    exact, ours = rows
    for row in rows:
        assert 0.0 <= row["recall_ind"] <= 1.0 and 0.0 <= row["precision_ind"] <= 1.0
        assert 0.0 < row["ks_null_mean"] < row["ks_null_q95"] < 1.0  # exact sets' KS at n = 30
    assert exact["ks_null_q95"] == ours["ks_null_q95"]
    assert ours["returned"] == 30 and ours["set"].endswith("(n = 30)")
    cells = coverage.line(ours, exact).strip("| ").split(" | ")
    assert len(cells) == len(coverage.COLUMNS) and cells[6] != "-"  # recall / exact, Lite0
    logistic = coverage.line({"set": "s", "method": "m", "recall": 0.5}, {"recall": 0.5})
    assert logistic.split(" | ")[3:7] == ["1.00", "-", "-", "-"]  # no independent space
    assert coverage.n_for("imagenet") == coverage.SET_N["imagenet"] < coverage.N
    assert coverage.n_for("imagenet", 7) == 7 == coverage.n_for("mnist", 7)


def test_overnight_slice_smallest(ray_session, tmp_path) -> None:
    rows = overnight_slice.run(n=2, neurons=(1, 2), out=tmp_path / "slice",
                               extra=("sampler.k=2", "sampler.budget=20"))
    assert [r["band"] for r in rows] == [(5.0 * i, 5.0 * i + 5) for i in range(6)]
    assert all(r["unit"] == 1 and r["label"] == "goldfish" for r in rows)
    assert all(r["status"] in STATUSES and 0 <= r["samples"] <= 2 for r in rows)
    assert all(0 < r["evals"] for r in rows)
    assert all(r["requested"] == 2 for r in rows)
    verdict = overnight_slice.verdict(rows)
    assert verdict["jobs"] == 6 and verdict["samples"] == sum(r["samples"] for r in rows)
    assert verdict["ok"] == sum(r["status"] in ("done", "infeasible") for r in rows)
    text = overnight_slice.table(rows)
    assert text.count("| 1 (goldfish) |") == 6 and "of 6 jobs" in text
