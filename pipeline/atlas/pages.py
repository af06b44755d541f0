"""The HTML page of one atlas entry: figure-1 style rows of samples, band by band.

Every piece of text that comes from a dataset or a config goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.atlas.catalog import Entry, JobView, neuron_name
from pipeline.atlas.samples import Shown
from pipeline.atlas.settings import AtlasSettings
from pipeline.atlas.svg import histogram, number


def thumb_path(job_id: str, sample: int) -> str:
    """Where a sample's thumbnail lives, relative to the atlas root."""
    return f"thumbs/{job_id}/{sample}.png"


def page_path(slug: str) -> str:
    """Where an entry's page lives, relative to the atlas root."""
    return f"pages/{slug}.html"


def figure_path(slug: str) -> str:
    """Where an entry's figure lives, relative to the atlas root."""
    return f"figures/{slug}.png"


def _tip(detail: dict[str, Any]) -> str:
    acts = ", ".join(number(a, 6) for a in detail["activations"])
    name = "activation" if len(detail["activations"]) == 1 else "activations"
    return (
        f"{name} {acts} | sample {detail['sample']} | {detail['phase']} step {detail['step']}"
        f" | chain {detail['chain']}"
    )


def _images(shown: Shown, count: int) -> str:
    cells = []
    for detail in shown.details[:count]:
        src = "../" + thumb_path(shown.job_id, detail["sample"])
        tip = escape(_tip(detail))
        cells.append(f'<img src="{escape(src)}" title="{tip}" alt="{tip}">')
    return "".join(cells)


def _outcome(job: JobView) -> str:
    r = job.record
    if r["status"] == "failed":
        return f"failed after {r['attempts']} attempt(s): {r['error'] or 'no error recorded'}"
    if r["status"] == "infeasible" or not r["n_samples"]:
        best = job.stats.get("best_activations")
        reached = f"; closest activation reached: {best}" if best is not None else ""
        return f"band not reached within the budget{reached}"
    return f"{r['n_samples']} of {r['n_requested']} samples"


def _band_row(job: JobView, shown: Shown | None, s: AtlasSettings, sweeps: bool) -> str:
    neurons = job.record["neurons"]
    joint = len(neurons) > 1
    heads = [escape(job.band_text(j)) for j in range(len(neurons))]
    if joint:
        names = [escape(neuron_name(n)) for n in neurons]
        heads = [f"{name}: {h}" for name, h in zip(names, heads, strict=True)]
    if sweeps:
        heads.append(f"sweep {escape(job.record['sweep'])}")
    hists = ""
    if shown is not None and job.bands is not None:
        hists = "".join(
            histogram(shown.activations[:, j], lo, hi, s.bins, neuron_name(n) if joint else "")
            for j, (n, (lo, hi)) in enumerate(zip(neurons, job.bands, strict=True))
        )
    outcome = f'<p class="outcome">{escape(_outcome(job))}</p>'
    if shown is not None:
        heads.append(outcome)
    body = _images(shown, s.per_band) if shown is not None else outcome
    state = "reached" if shown is not None else escape(job.record["status"])
    return (
        f'<tr class="band {state}"><th scope="row">{"<br>".join(heads)}</th>'
        f'<td class="hists">{hists}</td><td class="thumbs">{body}</td></tr>'
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
              "feasibility", "diversity", "distinct", "edge share", "attempts", "device", "job")


def _stats_row(job: JobView) -> str:
    r = job.record
    cells = [
        "; ".join(job.band_text(j) for j in range(len(r["neurons"]))), r["status"],
        f"{r['n_samples']}/{r['n_requested']}", r["seed_steps"],
        r["sample_steps"], r["wall_seconds"], r["acceptance"], r["feasibility"], r["redundancy"],
        job.stats.get("distinct"), r["edge_share"], r["attempts"], r["device"], r["job_id"],
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


def entry_page(
    entry: Entry, shown: dict[str, Shown], settings: AtlasSettings, targets: dict[str, Entry],
    figure: bool,
) -> str:
    """The full HTML of an entry's page (``targets`` resolves linked entries by name)."""
    sweeps = len({job.record["sweep"] for job in entry.jobs}) > 1
    rows = "".join(
        _band_row(job, shown.get(job.job_id), settings, sweeps) for job in entry.jobs
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
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(entry.label)} - inverse-set atlas</title>
<link rel="stylesheet" href="../assets/atlas.css">
<script src="../assets/page.js"></script>
</head>
<body class="entry" style="--thumb: {settings.thumb_px}px">
<nav><a href="../index.html">&larr; all neurons</a>{figure_link}</nav>
<h1>{escape(entry.label)}</h1>
<p class="meta">{escape(entry.kind)} {escape(entry.name)}{escape(members)} &middot;
{summary['reached']} of {summary['bands']} bands reached &middot; {summary['samples']} samples</p>
{_links(entry, targets)}
<table class="rows"><thead><tr><th>band</th><th>activations</th>
<th>samples, most diverse first (hover for activation)</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>Statistics</h2>
<p class="muted">diversity: mean nearest-neighbour over mean pairwise distance in E-space
(a few tenths for independent samples, ~0 for near-duplicates).</p>
<table class="stats"><thead><tr>{heads}</tr></thead><tbody>{stats}</tbody></table>
</body></html>
"""
