"""The index: ``index.html`` (static shell), ``data/atlas.js`` (``window.ATLAS = {...}``) and
the shared assets. The data is a script, not JSON fetched at run time, so that the atlas
works from ``file://`` (Chromium forbids ``fetch`` there)."""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.atlas.catalog import Entry
from pipeline.atlas.diagnostics import DIAGNOSTICS, STATUSES
from pipeline.atlas.pages import page_path

ASSETS = ("atlas.css", "index.js", "cells.js", "page.js", "band.js")
COLUMNS = (  # (sort key, heading); the first column is the preview image
    ("label", "label"), ("unit", "layer:unit"), ("kind", "kind"), ("feasibility", "bands reached"),
    ("status", "status"), ("samples", "samples"), ("diversity", "diversity"),
    *((d.key, d.heading) for d in DIAGNOSTICS), ("steps", "steps"), ("wall", "wall s"),
)
LEGEND = (
    ("bands reached", "bands with samples / bands; the rest were not reached or failed"),
    ("status", "jobs per status: done (all samples), partial (fewer samples than asked, "
     "budget spent), infeasible (band not reached), failed (an error; rerun the sweep)"),
    ("diversity", "mean nearest-neighbour over mean pairwise distance in E-space: a few "
     "tenths for independent samples, about 0 for near-duplicates"),
    *((d.heading, d.good) for d in DIAGNOSTICS),
)
FILTERABLE = (("diversity", "diversity"), ("samples", "samples"),
              *((d.key, d.heading) for d in DIAGNOSTICS))


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless the file already holds it; return whether it was written."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def write_assets(root: Path) -> None:
    """Copy the stylesheet and scripts into ``<root>/assets``."""
    static = resources.files("pipeline.atlas") / "static"
    for name in ASSETS:
        write_if_changed(root / "assets" / name, (static / name).read_bytes())


def row(entry: Entry, preview: str | None) -> dict[str, Any]:
    """An entry's row in the index data."""
    first = entry.neurons[0]
    neuron = entry.kind == "neuron"
    return {
        "name": entry.name, "label": entry.label, "kind": entry.kind,
        "layer": first["layer"] if neuron else "", "unit": first["unit"] if neuron else -1,
        "page": page_path(entry.slug), "preview": preview, **entry.summary(),
    }


def data_script(rows: list[dict[str, Any]], page_size: int, title: str) -> bytes:
    """``window.ATLAS = {...};`` with ``<`` escaped, safe to load as a classic script."""
    text = json.dumps({"title": title, "page_size": page_size, "entries": rows},
                      ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    safe = text.replace("<", "\\u003c")
    return f"window.ATLAS = {safe};\n".encode()


def _controls() -> str:
    statuses = "".join(f'<option value="{s}">a band {s}</option>' for s in STATUSES)
    columns = "".join(f'<option value="{k}">{escape(h)}</option>' for k, h in FILTERABLE)
    return f"""<div class="controls">
<input id="q" type="search" placeholder="search label, layer:unit or intersection"
 aria-label="search">
<select id="kind" aria-label="kind"><option value="">neurons and intersections</option>
<option value="neuron">neurons</option><option value="intersection">intersections</option></select>
<select id="status" aria-label="status"><option value="">any status</option>{statuses}
<option value="all-done">every band done</option></select>
<span class="filter"><select id="fcol" aria-label="filter column">{columns}</select>
<select id="fop" aria-label="filter comparison"><option value="ge">&ge;</option>
<option value="le">&le;</option></select>
<input id="fval" type="number" step="any" placeholder="value" aria-label="filter value"></span>
</div>
<div class="controls"><button id="prev" type="button">&lsaquo; prev</button>
<span id="pageinfo"></span><button id="next" type="button">next &rsaquo;</button></div>"""


def _legend() -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in LEGEND)
    return (f'<details class="legend"><summary>What the columns mean, and what a good value is'
            f"</summary><dl>{items}</dl></details>")


def index_html(title: str, facts: list[str]) -> str:
    """The index page; ``facts`` are lines about the dataset (escaped here)."""
    heads = "".join(
        f'<th data-sort="{key}" aria-sort="none"><button type="button">{escape(name)}</button></th>'
        for key, name in COLUMNS
    )
    meta = " &middot; ".join(escape(fact) for fact in facts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="assets/atlas.css">
</head>
<body class="index" style="--thumb: 40px">
<h1>{escape(title)}</h1>
<p class="meta">{meta}</p>
{_controls()}
{_legend()}
<div class="scroll"><table id="entries"><thead><tr><th></th>{heads}</tr></thead><tbody></tbody>
</table></div>
<noscript>The index needs JavaScript; the pages under pages/ work without it.</noscript>
<script src="data/atlas.js"></script>
<script src="assets/index.js"></script>
</body></html>
"""


def write_index(root: Path, rows: list[dict[str, Any]], page_size: int, title: str,
                facts: list[str]) -> Path:
    """Write the index page, its data script and the assets; return the index path."""
    write_assets(root)
    write_if_changed(root / "data" / "atlas.js", data_script(rows, page_size, title))
    index = root / "index.html"
    write_if_changed(index, index_html(title, facts).encode())
    return index
