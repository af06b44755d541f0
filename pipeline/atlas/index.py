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
from pipeline.atlas.pages import page_path

ASSETS = ("atlas.css", "index.js", "page.js")
COLUMNS = (  # (sort key, heading); the first column is the preview image
    ("label", "label"), ("unit", "layer:unit"), ("kind", "kind"), ("feasibility", "bands reached"),
    ("samples", "samples"), ("diversity", "diversity"), ("steps", "steps"), ("wall", "wall s"),
)


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


def index_html(title: str, facts: list[str]) -> str:
    """The index page; ``facts`` are lines about the dataset (escaped here)."""
    heads = "".join(
        f'<th data-sort="{key}" aria-sort="none"><button type="button">{escape(name)}</button></th>'
        for key, name in COLUMNS
    )
    meta = " &middot; ".join(escape(fact) for fact in facts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)}</title>
<link rel="stylesheet" href="assets/atlas.css">
</head>
<body class="index" style="--thumb: 40px">
<h1>{escape(title)}</h1>
<p class="meta">{meta}</p>
<div class="controls">
<input id="q" type="search" placeholder="search label, layer:unit or intersection"
 aria-label="search">
<select id="kind" aria-label="kind"><option value="">neurons and intersections</option>
<option value="neuron">neurons</option><option value="intersection">intersections</option></select>
<button id="prev" type="button">&lsaquo; prev</button><span id="pageinfo"></span>
<button id="next" type="button">next &rsaquo;</button>
</div>
<table id="entries"><thead><tr><th></th>{heads}</tr></thead><tbody></tbody></table>
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
