"""The Arrow schemas of a sweep's two datasets: samples and jobs (see docs/dataset.md)."""

from __future__ import annotations

import pyarrow as pa

FORMAT = "inverse-set-sweep"
VERSION = 1

NEURON = pa.struct(
    [
        pa.field("layer", pa.string(), nullable=False),
        pa.field("unit", pa.int32(), nullable=False),
        pa.field("spatial", pa.string(), nullable=False),
    ]
)
BAND = pa.struct(
    [pa.field("lo", pa.float64(), nullable=False), pa.field("hi", pa.float64(), nullable=False)]
)

SAMPLES = pa.schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("sample", pa.int32(), nullable=False),
        pa.field("neurons", pa.list_(NEURON), nullable=False),
        pa.field("bands", pa.list_(BAND), nullable=False),
        pa.field("activations", pa.list_(pa.float64()), nullable=False),
        pa.field("code", pa.list_(pa.float32()), nullable=False),
        pa.field("image", pa.binary(), nullable=False),
        pa.field("phase", pa.string(), nullable=False),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("chain", pa.int32(), nullable=False),
        pa.field("in_band", pa.bool_(), nullable=False),
        pa.field("features", pa.list_(pa.float32())),
    ]
)

# Columns a shard may store with a narrower type than SAMPLES (readers get SAMPLES' types).
NARROW = {"code": pa.list_(pa.float16()), "features": pa.list_(pa.float16())}

# Hive partition columns of the samples dataset: samples/layer=<layer>/unit=<unit>/<job_id>.parquet
PARTITIONS = pa.schema([pa.field("layer", pa.string()), pa.field("unit", pa.int32())])

# done: n samples; partial: fewer than n (the sampling budget ran out); infeasible: no
# sample (band not reached); failed: an error, retries used up.
STATUSES = ("done", "partial", "infeasible", "failed")

JOBS = pa.schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("sweep", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("neurons", pa.list_(NEURON), nullable=False),
        pa.field("bands", pa.list_(BAND)),
        pa.field("n_requested", pa.int32(), nullable=False),
        pa.field("n_samples", pa.int32(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("seed_steps", pa.int64()),
        pa.field("sample_steps", pa.int64()),
        pa.field("steps", pa.int64()),
        pa.field("wall_seconds", pa.float64()),
        pa.field("acceptance", pa.float64()),
        pa.field("feasibility", pa.float64()),
        pa.field("distinct", pa.float64()),
        pa.field("redundancy", pa.float64()),
        pa.field("edge_share", pa.float64()),
        pa.field("stats", pa.string()),
        pa.field("config", pa.string(), nullable=False),
        pa.field("device", pa.string()),
        pa.field("host", pa.string()),
        pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# Numeric statistics copied from SampleSet.stats into their own columns (all of them stay in
# the ``stats`` JSON column as well).
STAT_COLUMNS = ("acceptance", "feasibility", "distinct", "redundancy", "edge_share")
