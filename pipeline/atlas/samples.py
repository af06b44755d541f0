"""Read every stored sample of an entry's bands from the store, ordered most diverse first.

Only the entry's own shards are opened (the store's documented layout
``samples/layer=<layer>/unit=<unit>/<job_id>.parquet``, in a local folder or on an object
store through :mod:`pyarrow.fs`), read with :func:`pipeline.store.scan`
so damaged shards are left out with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from pipeline.atlas.catalog import Entry
from pipeline.atlas.images import tiny
from pipeline.atlas.select import farthest_first
from pipeline.store import scan
from pipeline.store.objects import faults, files, is_remote, open_uri
from pipeline.store.schema import PARTITIONS, SAMPLES
from pipeline.store.shards import stem, visible

COLUMNS = ["job_id", "sample", "activations", "image", "phase", "step", "chain", "code"]
INTERSECTIONS = "intersection"  # the store's layer partition of intersections (docs/dataset.md)


@dataclass
class BandSamples:
    """Every sample of one job (band), by sample index, and the most-diverse-first order."""

    job_id: str
    samples: np.ndarray  # (n,) sample indices, ascending; position i is sprite slot i
    activations: np.ndarray  # (n, p): one column per neuron
    phase: list[str]
    step: np.ndarray
    chain: np.ndarray
    images: list[bytes]  # PNGs
    features: np.ndarray  # (n, d): E-features when stored, else the generator codes
    diverse: list[int]  # positions, greedy farthest-point order over all n samples
    source: str  # what ``features`` are: "features" (E-features) or "code"

    def __len__(self) -> int:
        return len(self.samples)


def _matrix(column: pa.ChunkedArray, rows: int) -> np.ndarray:
    return column.combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(rows, -1)


def _features(table: pa.Table) -> tuple[np.ndarray, str]:
    """The ``features`` column (E-features) when every row has one, else the codes."""
    name = "code"
    if "features" in table.column_names and table.column("features").null_count == 0:
        name = "features"
    return _matrix(table.column(name), table.num_rows).astype(np.float32), name


def band_samples(table: pa.Table, job_id: str, select_on: str) -> BandSamples:
    """One job's rows as :class:`BandSamples` (``select_on``: diversity order on the
    features or on 16x16 copies of the images)."""
    table = table.sort_by("sample")
    n = table.num_rows
    images = table.column("image").to_pylist()
    features, source = _features(table)
    on = features if select_on == "code" else np.stack([tiny(png) for png in images])
    return BandSamples(
        job_id, table.column("sample").to_numpy(), _matrix(table.column("activations"), n),
        table.column("phase").to_pylist(), table.column("step").to_numpy(),
        table.column("chain").to_numpy(), images, features, farthest_first(on), source,
    )


def _partition(entry: Entry) -> tuple[str, str | None]:
    """The folder of the entry's shards under ``samples/`` and its ``unit`` (None: all)."""
    if entry.kind == "neuron":
        neuron = entry.neurons[0]
        return f"layer={neuron['layer']}/unit={neuron['unit']}", str(neuron["unit"])
    return f"layer={INTERSECTIONS}", None


def _shards(root: str | Path, entry: Entry, ids: list[str]
            ) -> tuple[pafs.FileSystem | None, str, list[str]]:
    """The filesystem (None: local), the ``samples/`` folder and the entry's shards of the
    jobs ``ids`` in the output folder or URI ``root``."""
    folder, _ = _partition(entry)
    wanted = set(ids)
    if is_remote(root):
        fs, base = open_uri(str(root))
        with faults(str(root), "list"):
            found = visible(files(fs, f"{base}/samples/{folder}"))
        return fs, f"{base}/samples", [p for p in found if stem(p) in wanted]
    base = Path(root) / "samples"
    found = visible((base / folder).glob("**/*.parquet"))
    return None, str(base), [str(p) for p in found if stem(p) in wanted]


def read_band_samples(root: str | Path, entry: Entry, select_on: str
                      ) -> dict[str, BandSamples]:
    """Every sample of each of ``entry``'s jobs that stored samples, by job id (``root``:
    the output folder or object-store URI)."""
    ids = [job.job_id for job in entry.jobs if job.reached]
    fs, base, paths = _shards(root, entry, ids)
    if not paths:
        return {}
    schema = pa.schema(list(SAMPLES) + list(PARTITIONS))
    part = ds.partitioning(PARTITIONS, flavor="hive")
    dataset = ds.dataset(paths, schema=schema, format="parquet", partitioning=part,
                         partition_base_dir=base, filesystem=fs)
    columns = COLUMNS + (["features"] if "features" in SAMPLES.names else [])
    table = scan(dataset, columns, pc.field("job_id").isin(ids))
    out = {}
    for job_id in ids:
        rows = table.filter(pc.field("job_id") == job_id)
        if rows.num_rows:
            out[job_id] = band_samples(rows, job_id, select_on)
    return out
