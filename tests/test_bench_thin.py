"""bench.thin: the thin-band table, at its smallest."""

from __future__ import annotations

from bench import thin


def test_thin_bands_smallest() -> None:
    rows = thin.run(n=12, k=3)
    assert len(rows) == len(thin.BANDS) * len(thin.METHODS)
    for row in rows:
        assert row["returned"] > 0 and row["equiv"] > 0 and row["per_transition"] >= 1
    assert all(row["r"] == 0 for row in rows if row["method"].startswith("slice only"))
    text = thin.table(rows)
    assert text.count("\n") == len(rows) + 1 and "of the prior" in text
