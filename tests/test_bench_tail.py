"""bench.tail: the far-tail table, at its smallest."""

from __future__ import annotations

from bench import tail
from bench.common import markdown_table


def test_tail_bands_smallest(monkeypatch) -> None:
    monkeypatch.setattr(tail, "TAILS", (5.0,))
    rows = tail.run(dim=40, n=12, budget=200, k=3)
    assert len(rows) == 2 * len(tail.KERNELS)
    for row in rows:
        assert row["returned"] > 0 and row["equiv"] > 0
    assert all(0 <= row["ks"] <= 1 for row in rows if row["band"].startswith("linear"))
    assert all(row["ks"] is None for row in rows if row["band"].startswith("curved"))
    text = markdown_table(rows, tail.COLUMNS)
    assert text.count("\n") == len(rows) + 1 and "linear [5, 6]" in text
