"""Rows of the two datasets built from a job's result (pure: no file is touched here)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from pipeline.errors import ConfigError
from pipeline.store import schema
from pipeline.store.formats import StoreFormat, as_float16, compact_features
from pipeline.store.images import encode_images

Neurons = Sequence[Mapping[str, Any]]  # [{"layer": str, "unit": int, "spatial": str}, ...]


def _bands(bands: Sequence[Sequence[float]]) -> list[dict[str, float]]:
    return [{"lo": float(lo), "hi": float(hi)} for lo, hi in bands]


def _neurons(neurons: Neurons) -> list[dict[str, Any]]:
    return [
        {"layer": str(x["layer"]), "unit": int(x["unit"]), "spatial": str(x["spatial"])}
        for x in neurons
    ]


def _lists(rows: torch.Tensor | None, n: int, half: bool) -> pa.Array:
    """A list column from a matrix ``(n, d)`` (float16 or float32 values); ``None``: null rows."""
    kind = pa.float16() if half else pa.float32()
    if rows is None:
        return pa.nulls(n, pa.list_(kind))
    values = (as_float16(rows) if half else rows.detach().cpu().float()).numpy()
    offsets = np.arange(0, values.size + 1, max(values.shape[1], 1), dtype=np.int32)
    if values.shape[1] == 0:
        offsets = np.zeros(n + 1, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.ravel(), type=kind))


def _codes(result: Any, fmt: StoreFormat) -> pa.Array:
    """The code column: float16, float32 or empty lists (not stored), per ``fmt``."""
    codes = result.codes.detach().cpu()
    image_values = int(result.inputs[0].numel()) if len(result) else 0
    kind = fmt.code_type(codes.shape[1], image_values)
    if kind is None:
        codes = codes[:, :0]
    return _lists(codes, len(result), kind == pa.float16())


def samples_table(
    job_id: str, target: str, neurons: Neurons, result: Any, fmt: StoreFormat | None = None
) -> pa.Table:
    """The samples of one job as a table of :data:`schema.SAMPLES` (one row per sample),
    ``code`` and ``features`` possibly as float16 lists (readers get SAMPLES' types).

    ``result`` is a ``pipeline.sampler`` SampleSet; ``fmt`` says how codes, images (8-bit
    PNG or WebP) and compact features are stored (default: :class:`StoreFormat`'s).
    """
    fmt = fmt or StoreFormat()
    n = len(result)
    if result.activations.shape[1] != len(neurons):
        raise ConfigError(
            f"job {job_id}: {result.activations.shape[1]} activation columns for {len(neurons)} "
            "neurons; the result does not belong to this job"
        )
    columns = {
        "job_id": [job_id] * n,
        "target": [target] * n,
        "sample": list(range(n)),
        "neurons": [_neurons(neurons)] * n,
        "bands": [_bands(result.bands)] * n,
        "activations": result.activations.double().cpu().tolist(),
        "code": _codes(result, fmt),
        "image": encode_images(result.inputs, fmt.image) if n else [],
        "phase": list(result.phase),
        "step": result.step.long().cpu().tolist(),
        "chain": result.chain.long().cpu().tolist(),
        "in_band": result.in_band.bool().cpu().tolist(),
        "features": _lists(compact_features(result.features, fmt.features), n, half=True),
    }
    fields = [
        field.with_type(columns[field.name].type) if field.name in schema.NARROW else field
        for field in schema.SAMPLES
    ]
    return pa.table(columns, schema=pa.schema(fields))


def _number(value: Any) -> float | None:
    """A finite float out of a statistic (bools count as 0/1), else ``None``."""
    if isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _json(value: Any) -> str:
    """JSON text; non-finite floats become null and unknown objects their ``str``."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if v is None or isinstance(v, (str, int, float, bool)):
            return v
        return str(v)

    return json.dumps(clean(value), sort_keys=True, allow_nan=False)


@dataclass
class JobRecord:
    """The outcome of one job: what was asked, what happened, and the sampler's statistics."""

    job_id: str
    sweep: str
    target: str
    status: str
    neurons: list[dict[str, Any]]
    n_requested: int
    seed: int
    config: dict[str, Any]
    bands: list[tuple[float, float]] | None = None
    n_samples: int = 0
    attempts: int = 1
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    host: str | None = None
    wall_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in schema.STATUSES:
            raise ConfigError(f"job status must be one of {schema.STATUSES}, got {self.status!r}")


def job_table(record: JobRecord, finished_at: datetime | None = None) -> pa.Table:
    """One job record as a one-row table of :data:`schema.JOBS`."""
    stats = record.stats
    seed_steps, sample_steps = stats.get("seed_steps"), stats.get("sample_steps")
    steps = None
    if isinstance(seed_steps, int) or isinstance(sample_steps, int):
        steps = int(seed_steps or 0) + int(sample_steps or 0)
    wall = record.wall_seconds
    if wall is None:
        wall = _number(stats.get("wall_seconds"))
    row = {
        "job_id": record.job_id,
        "sweep": record.sweep,
        "target": record.target,
        "status": record.status,
        "error": record.error,
        "attempts": record.attempts,
        "neurons": _neurons(record.neurons),
        "bands": _bands(record.bands) if record.bands is not None else None,
        "n_requested": record.n_requested,
        "n_samples": record.n_samples,
        "seed": record.seed,
        "seed_steps": seed_steps if isinstance(seed_steps, int) else None,
        "sample_steps": sample_steps if isinstance(sample_steps, int) else None,
        "steps": steps,
        "wall_seconds": wall,
        **{name: _number(stats.get(name)) for name in schema.STAT_COLUMNS},
        "stats": _json(stats),
        "config": _json(record.config),
        "device": record.device,
        "host": record.host,
        "finished_at": finished_at or datetime.now(UTC),
    }
    return pa.Table.from_pylist([row], schema=schema.JOBS)
