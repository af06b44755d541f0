"""A new sweep launches its actors before the driver expands it; a resume expands first."""

from __future__ import annotations

import importlib
import io
from pathlib import Path

from pipeline.runner import Pool
from pipeline.store import read_jobs
from pipeline.sweep import run

run_module = importlib.import_module("pipeline.sweep.run")
ONE_BAND = "bands.values=[[0.5, 0.75]]"


def _watch(monkeypatch) -> tuple[list, list[Pool]]:
    """Record, in order, each ``Pool.launch`` (with its job count and how many actors were
    starting or started at the time), each expansion of the sweep by the driver and each
    connection to Ray."""
    events: list = []
    pools: list[Pool] = []
    launch, checked, connect = Pool.launch, run_module.checked_jobs, run_module.connect

    def launching(self: Pool, jobs: int | None = None) -> None:
        pools.append(self)
        events.append(("launch", jobs))
        launch(self, jobs)

    def expanding(plain: dict) -> list:
        busy = len(pools[-1].starting) + len(pools[-1].actors) if pools else 0
        events.append(("expand", busy))
        return checked(plain)

    def connecting(settings):  # noqa: ANN001, ANN202
        events.append(("connect",))
        return connect(settings)

    monkeypatch.setattr(Pool, "launch", launching)
    monkeypatch.setattr(run_module, "connect", connecting)
    monkeypatch.setattr(run_module, "checked_jobs", expanding)
    return events, pools


def test_actors_start_before_the_expansion_and_the_sweep_completes_and_resumes(
    ray_session, toy_cfg, monkeypatch
) -> None:
    events, pools = _watch(monkeypatch)
    cfg = toy_cfg(ONE_BAND)  # 2 jobs on 2 actors
    root = Path(run(cfg, progress_stream=io.StringIO()))
    # once connected, both actors start while it expands
    assert events == [("connect",), ("launch", None), ("expand", 2)]
    records = read_jobs(root).to_pylist()
    assert len(records) == 2 and {r["status"] for r in records} == {"done"}

    first = sorted((root / "jobs").rglob("*.parquet"))[0]
    first.unlink()  # one job lost: a resume expands first, then starts an actor for it
    events.clear()
    stream = io.StringIO()
    run(cfg, progress_stream=stream)
    assert events == [("expand", 0), ("connect",), ("launch", 1)]
    assert "1 from earlier runs" in stream.getvalue()
    assert sorted(r["job_id"] for r in read_jobs(root).to_pylist()) == sorted(
        r["job_id"] for r in records)

    events.clear()  # nothing left to run: no actor at all
    run(cfg, progress_stream=io.StringIO())
    assert events == [("expand", 0)]  # nor a connection


def test_actors_launched_before_the_job_count_is_known_are_trimmed_to_it(
    ray_session, toy_cfg, monkeypatch, tmp_path
) -> None:
    events, pools = _watch(monkeypatch)
    cfg = toy_cfg(ONE_BAND, "neurons.select=[{layer: null, units: [0]}]",
                  f"output.dir={tmp_path / 'one'}")
    root = Path(run(cfg, progress_stream=io.StringIO()))
    assert events == [("connect",), ("launch", None), ("expand", 2)]
    assert pools[-1].shape[0] == 1  # the second actor ended: one job
    assert [r["status"] for r in read_jobs(root).to_pylist()] == ["done"]
    assert not pools[-1].actors and not pools[-1].starting  # all stopped at the end
