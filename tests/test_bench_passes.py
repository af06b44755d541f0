"""bench/passes.py at its smallest: per-row CPU costs for each layout, and a sweep's passes
counted consistently with its job records; bare_row_seconds times the actors' layout."""

from __future__ import annotations

import torch

from bench import passes
from bench.packing import bare_row_seconds
from pipeline import zoo


def test_row_costs_time_each_layout_and_the_table_gives_ratios() -> None:
    rows = passes.row_costs("mnist", rows=(3,), variants=("plain", "channels_last"), repeats=1)
    assert [(r["rows"], r["variant"]) for r in rows] == [(3, "plain"), (3, "channels_last")]
    assert all(r["forward_ms"] > 0 and r["both_ms"] > 0 for r in rows)
    table = passes.row_table(rows)
    assert "| mnist | 3 | plain |" in table and "| 1.00 |" in table


def test_sweep_rows_count_every_evaluated_row_in_one_pass_kind() -> None:
    [run] = passes.sweep_rows("mnist", units=1, n=10, settings=((2, True),))
    assert run["jobs"] == 2 and run["forward"] > run["backward"] > 0
    # every row the job records count went through exactly one counted pass
    assert run["plain_rows"] + run["grad_rows"] == run["forward"]
    assert run["grad_rows"] == run["backward"]
    assert run["cpu"] > 0 and 0 < run["bare"]
    assert "| mnist | 2 | 2 | on |" in passes.sweep_table([run])


def test_bare_row_seconds_times_the_layout_a_cpu_actor_runs() -> None:
    default, off = zoo.load("mnist"), zoo.load("mnist")
    bare_row_seconds(default, 2, repeats=1)
    bare_row_seconds(off, 2, repeats=1, channels_last=False)
    conv = default.generator.body.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert all(p.is_contiguous() for p in off.generator.parameters())
    assert all(p.is_contiguous() for p in off.network.parameters())
