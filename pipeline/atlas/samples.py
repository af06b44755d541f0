"""Read an entry's samples from the store and choose the ones to show (most diverse first)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipeline.atlas.catalog import Entry
from pipeline.atlas.images import tiny
from pipeline.atlas.select import farthest_first
from pipeline.store import scan

COLUMNS = ["job_id", "sample", "activations", "image", "phase", "step", "chain"]
INTERSECTIONS = "intersection"  # the store's layer partition of intersections (docs/dataset.md)


@dataclass
class Shown:
    """One job's samples: all activations (for histograms) and the chosen ones in order."""

    job_id: str
    activations: np.ndarray  # (n, p): every sample of the job, one column per neuron
    samples: list[int]  # chosen sample indices, most diverse first
    images: list[bytes]  # their PNGs
    details: list[dict]  # their activations, phase, step and chain


def _features(table: pa.Table, select_on: str) -> np.ndarray:
    if select_on == "code":
        codes = table.column("code").combine_chunks()
        return codes.flatten().to_numpy().reshape(table.num_rows, -1)
    return np.stack([tiny(png) for png in table.column("image").to_pylist()])


def _job(table: pa.Table, job_id: str, count: int, select_on: str) -> Shown:
    table = table.sort_by("sample")
    acts = table.column("activations").combine_chunks()
    activations = acts.flatten().to_numpy().reshape(table.num_rows, -1)
    order = farthest_first(_features(table, select_on), count)
    chosen = table.take(order).select(["sample", "image", "phase", "step", "chain"]).to_pylist()
    details = [
        {**{k: row[k] for k in ("sample", "phase", "step", "chain")},
         "activations": activations[i].tolist()}
        for i, row in zip(order, chosen, strict=True)
    ]
    return Shown(
        job_id, activations, [row["sample"] for row in chosen],
        [row["image"] for row in chosen], details,
    )


def read_shown(dataset: ds.Dataset, entry: Entry, count: int, select_on: str) -> dict[str, Shown]:
    """The chosen samples of each of ``entry``'s jobs that stored samples, by job id."""
    ids = [job.job_id for job in entry.jobs if job.reached]
    if not ids:
        return {}
    if entry.kind == "neuron":
        neuron = entry.neurons[0]
        where = (pc.field("layer") == neuron["layer"]) & (pc.field("unit") == neuron["unit"])
    else:
        where = pc.field("layer") == INTERSECTIONS
    columns = COLUMNS + (["code"] if select_on == "code" else [])
    table = scan(dataset, columns, where & pc.field("job_id").isin(ids))
    out = {}
    for job_id in ids:
        rows = table.filter(pc.field("job_id") == job_id)
        if rows.num_rows:
            out[job_id] = _job(rows, job_id, count, select_on)
    return out
