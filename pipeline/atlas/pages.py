"""The HTML page of one atlas entry: its map, then figure-1 style rows of samples, band by
band (each linking to a page of all its samples), then the bands' statistics.

Every piece of text that comes from a dataset or a config goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.atlas.catalog import BandJob, Entry, neuron_name
from pipeline.atlas.cells import cell, head, scripts
from pipeline.atlas.pagedata import band_color, band_page_path, data_path
from pipeline.atlas.samples import BandSamples
from pipeline.atlas.settings import AtlasSettings
from pipeline.atlas.sprites import Sheet
from pipeline.atlas.svg import histogram

Shown = tuple[BandSamples, Sheet]  # a reached band's samples and its sprite sheet


def page_path(slug: str) -> str:
    """Where an entry's page lives, relative to the atlas root."""
    return f"pages/{slug}.html"


def figure_path(slug: str) -> str:
    """Where an entry's figure lives, relative to the atlas root."""
    return f"figures/{slug}.png"


def _outcome(job: BandJob) -> str:
    r = job.record
    if r["status"] == "failed":
        return f"failed after {r['attempts']} attempt(s): {r['error'] or 'no error recorded'}"
    if r["status"] == "infeasible" or not r["n_samples"]:
        best = job.stats.get("best_activations")
        reached = f"; closest activation reached: {best}" if best is not None else ""
        return f"band not reached within the budget{reached}"
    return f"{r['n_samples']} of {r['n_requested']} samples"


def _band_section(job: BandJob, shown: Shown | None, s: AtlasSettings, sweeps: bool,
                  index: int) -> str:
    neurons = job.record["neurons"]
    joint = len(neurons) > 1
    heads = [escape(job.band_text(j)) for j in range(len(neurons))]
    if joint:
        names = [escape(neuron_name(n)) for n in neurons]
        heads = [f"{name}: {h}" for name, h in zip(names, heads, strict=True)]
    if sweeps:
        heads.append(f"sweep {escape(job.record['sweep'])}")
    outcome = f'<p class="outcome">{escape(_outcome(job))}</p>'
    if shown is None:
        return (f'<section class="band {escape(job.status)}"><header><h3>{"<br>".join(heads)}'
                f"</h3>{outcome}</header></section>")
    band, sheet = shown
    hists = "".join(
        histogram(band.activations[:, j], lo, hi, s.bins, neuron_name(n) if joint else "")
        for j, (n, (lo, hi)) in enumerate(zip(neurons, job.bands or [], strict=False))
    )
    swatch = f'<i class="swatch" style="background:{band_color(index)}"></i>'
    more = (f'<a class="more" href="../{escape(band_page_path(job.job_id))}">all {len(band)} '
            "samples &rsaquo;</a>")
    cells = "".join(cell(band, sheet, i, s.thumb_px) for i in band.diverse[: s.per_band])
    return (
        f'<section class="band reached {escape(job.status)}" data-job="{escape(job.job_id)}">'
        f'<header><h3>{swatch}{"<br>".join(heads)}</h3>{outcome}{hists}{more}</header>'
        f'<div class="cells">{cells}</div></section>'
    )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


STAT_HEADS = ("band", "status", "samples", "seed steps", "sample steps", "wall s", "acceptance",
              "feasibility", "diversity", "distinct", "edge share", "R-hat", "ESS",
              "evals/sample", "attempts", "device", "job")


def _stats_row(job: BandJob) -> str:
    r, st = job.record, job.stats
    cells = [
        "; ".join(job.band_text(j) for j in range(len(r["neurons"]))), r["status"],
        f"{r['n_samples']}/{r['n_requested']}", r["seed_steps"],
        r["sample_steps"], r["wall_seconds"], r["acceptance"], r["feasibility"], r["redundancy"],
        st.get("distinct"), r["edge_share"], st.get("rhat"), st.get("ess"),
        st.get("evals_per_sample"), r["attempts"], r["device"], r["job_id"],
    ]
    return "<tr>" + "".join(f"<td>{escape(_fmt(c))}</td>" for c in cells) + "</tr>"


def _links(entry: Entry, targets: dict[str, Entry]) -> str:
    if not entry.links:
        return ""
    title = "Intersections with this neuron" if entry.kind == "neuron" else "Member neurons"
    items = "".join(
        f'<li><a href="{escape(targets[name].slug)}.html">{escape(targets[name].label)}</a>'
        + (f' <span class="muted">{escape(name)}</span>' if name != targets[name].label else "")
        + "</li>"
        for name in entry.links
    )
    return f'<section class="links"><h2>{title}</h2><ul>{items}</ul></section>'


def _map(entry: Entry, shown: dict[str, Shown], method: str) -> str:
    bands = [(i, job) for i, job in enumerate(entry.jobs) if job.job_id in shown]
    if not bands:
        return ""
    sources = {shown[job.job_id][0].source for _, job in bands}
    what = "E-features" if sources == {"features"} else (
        "generator codes (this dataset stores no E-features)" if sources == {"code"}
        else "E-features, or generator codes where a band stores no E-features")
    legend = "".join(
        f'<li><i class="swatch" style="background:{band_color(i)}"></i>'
        f"{escape(job.band_text(0))}</li>" for i, job in bands
    )
    return f"""<section class="map"><h2>Map of the inverse set</h2>
<p class="muted">Every stored sample of every band, placed by a {escape(method.upper())} of
its {what}, one projection for all bands. Hover for the image and activation; click for the
full image.</p>
<div class="mapbox"><canvas id="map" width="640" height="480" aria-label="map of samples">
</canvas><div id="tip" hidden><span class="cell"></span><p></p></div></div>
<ul class="legend">{legend}</ul></section>"""


def entry_page(
    entry: Entry, shown: dict[str, Shown], settings: AtlasSettings, targets: dict[str, Entry],
    figure: bool,
) -> str:
    """The full HTML of an entry's page (``shown``: each reached job's samples and sheet;
    ``targets`` resolves linked entries by name)."""
    sweeps = len({job.record["sweep"] for job in entry.jobs}) > 1
    rows = "".join(
        _band_section(job, shown.get(job.job_id), settings, sweeps, i)
        for i, job in enumerate(entry.jobs)
    )
    stats = "".join(_stats_row(job) for job in entry.jobs)
    summary = entry.summary()
    members = ""
    if entry.kind == "intersection":
        members = " (" + ", ".join(neuron_name(n) for n in entry.neurons) + ")"
    figure_link = (
        f' · <a href="../{escape(figure_path(entry.slug))}">figure (PNG)</a>' if figure else ""
    )
    heads = "".join(f"<th>{h}</th>" for h in STAT_HEADS)
    return head(entry.label, settings.thumb_px, "entry") + f"""<nav><a href="../index.html">
&larr; all neurons</a>{figure_link}</nav>
<h1>{escape(entry.label)}</h1>
<p class="meta">{escape(entry.kind)} {escape(entry.name)}{escape(members)} &middot;
{summary['reached']} of {summary['bands']} bands reached &middot; {summary['samples']} samples</p>
{_links(entry, targets)}
{_map(entry, shown, settings.map)}
<h2>Bands, high to low: most diverse samples first</h2>
<div class="bands">{rows}</div>
<h2>Statistics</h2>
<p class="muted">diversity: mean nearest-neighbour over mean pairwise distance in E-space
(a few tenths for independent samples, ~0 for near-duplicates). R-hat, ESS, evals/sample:
see the index's legend.</p>
<div class="scroll"><table class="stats"><thead><tr>{heads}</tr></thead>
<tbody>{stats}</tbody></table></div>
""" + scripts(data_path(entry.slug), "cells.js", "page.js")
