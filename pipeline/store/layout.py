"""Names inside a sweep's output folder (local path or object-store prefix), shared by the
local and the object-store stores and by the workers that write shards."""

from __future__ import annotations

import re

from pipeline.errors import ConfigError

MANIFEST = "manifest.json"
LOCK = ".lock"
SAMPLES = "samples"
JOBS = "jobs"
_SAFE = re.compile(r"^[A-Za-z0-9_.+\-]+$")


def shard_key(job_id: str, layer: str, unit: int) -> str:
    """The samples shard of a job, relative to the output folder (``/``-separated)."""
    if not _SAFE.match(layer) or not _SAFE.match(job_id):
        raise ConfigError(f"layer {layer!r} or job {job_id!r} has characters unsafe in a file name")
    return f"{SAMPLES}/layer={layer}/unit={int(unit)}/{job_id}.parquet"


def record_key(job_id: str) -> str:
    """The job record of a job, relative to the output folder."""
    return f"{JOBS}/{job_id}.parquet"
