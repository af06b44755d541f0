"""The all-samples page of one band (``bands/<job_id>.html``): a shell whose cells the
``band.js`` script adds page by page as the reader scrolls, in the chosen order."""

from __future__ import annotations

from html import escape

from pipeline.atlas.catalog import BandJob, Entry
from pipeline.atlas.cells import head, scripts
from pipeline.atlas.pagedata import data_path
from pipeline.atlas.pages import page_path

ORDERS = (
    ("diverse", "most diverse first"),
    ("act-desc", "activation, high to low"),
    ("act-asc", "activation, low to high"),
    ("chain", "chain, then step"),
)


def band_page(entry: Entry, job: BandJob, count: int, thumb_px: int) -> str:
    """The HTML of a band's all-samples page (``count`` stored samples)."""
    band = "; ".join(job.band_text(j) for j in range(len(job.record["neurons"])))
    options = "".join(f'<option value="{k}">{escape(t)}</option>' for k, t in ORDERS)
    title = f"{entry.label}: {band}"
    data = f' data-job="{escape(job.job_id)}"'
    return head(title, thumb_px, "band-page", data) + f"""<nav>
<a href="../{escape(page_path(entry.slug))}">&larr; {escape(entry.label)}</a> &middot;
<a href="../index.html">all neurons</a></nav>
<h1>{escape(entry.label)} <span class="muted">{escape(band)}</span></h1>
<p class="meta">{escape(entry.name)} &middot; {count} samples &middot; {escape(job.status)}
&middot; hover for the activation, click for the full image</p>
<div class="controls"><label>order <select id="order" aria-label="order">{options}</select>
</label><span id="count"></span></div>
<div id="cells" class="cells"></div>
<p id="end"><button id="more" type="button">more</button></p>
""" + scripts(data_path(entry.slug), "cells.js", "band.js")
