"""The data script of an entry (``data/entries/<slug>.js``): every sample of every band with
its activation, chain, step, map position, diversity rank and sprite slot.

Read by the entry page (map, rows) and by its bands' all-samples pages. A classic script
(``window.ENTRY = {...}``), not JSON, because Chromium does not let ``file://`` pages fetch.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipeline.atlas.catalog import Entry
from pipeline.atlas.samples import BandSamples
from pipeline.atlas.sprites import Sheet

# One colour per band, from the highest band down (cycled beyond ten bands).
PALETTE = ("#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#17becf", "#1f77b4", "#9467bd",
           "#e377c2", "#8c564b", "#7f7f7f")


def band_color(i: int) -> str:
    """The colour of an entry's ``i``-th band (high to low)."""
    return PALETTE[i % len(PALETTE)]


def data_path(slug: str) -> str:
    """Where an entry's data script lives, relative to the atlas root."""
    return f"data/entries/{slug}.js"


def band_page_path(job_id: str) -> str:
    """Where a band's all-samples page lives, relative to the atlas root."""
    return f"bands/{job_id}.html"


def _rounded(values: np.ndarray, digits: int) -> list:
    return [None if np.isnan(v) else round(float(v), digits) for v in values]


def band_data(band: BandSamples, sheet: Sheet, xy: np.ndarray, text: str, color: str,
              ) -> dict[str, Any]:
    """One band's entry in the page data."""
    return {
        "job": band.job_id, "band": text, "color": color, "n": len(band),
        "sheet": "../" + sheet.path, "cell": sheet.cell, "cols": sheet.cols,
        "page": "../" + band_page_path(band.job_id),
        "sample": band.samples.tolist(),
        "act": [[float(f"{a:.6g}") for a in row] for row in band.activations.tolist()],
        "chain": band.chain.tolist(), "step": band.step.tolist(), "phase": band.phase,
        "x": _rounded(xy[:, 0], 4), "y": _rounded(xy[:, 1], 4), "diverse": band.diverse,
    }


def entry_data(entry: Entry, bands: list[dict[str, Any]], map_method: str,
               thumb_px: int) -> dict[str, Any]:
    """The page data of an entry (``bands`` from :func:`band_data`, high to low)."""
    return {"name": entry.name, "label": entry.label, "kind": entry.kind, "map": map_method,
            "thumb": thumb_px, "bands": bands}


def data_script(data: dict[str, Any]) -> bytes:
    """``window.ENTRY = {...};`` with ``<`` escaped, safe to load as a classic script."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return f"window.ENTRY = {text.replace('<', chr(92) + 'u003c')};\n".encode()
