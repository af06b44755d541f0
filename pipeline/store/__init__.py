"""The sweep datasets on disk or on an object store: schemas, atomic Parquet shards,
resume (docs/dataset.md).

The only code that touches the files of a sweep's output folder.
"""

from pipeline.store.dataset import (
    SweepStore,
    is_sweep_output,
    open_store,
    read_jobs,
    read_manifest,
    read_samples,
    samples_dataset,
    scan,
    shard_path,
)
from pipeline.store.formats import StoreFormat
from pipeline.store.images import decode_png, encode_images, encode_png
from pipeline.store.objects import worker_env, write_samples
from pipeline.store.objectstore import ObjectSweepStore
from pipeline.store.records import JobRecord, job_table, samples_table
from pipeline.store.schema import JOBS, SAMPLES

__all__ = [
    "JOBS",
    "SAMPLES",
    "JobRecord",
    "ObjectSweepStore",
    "StoreFormat",
    "SweepStore",
    "decode_png",
    "encode_images",
    "encode_png",
    "is_sweep_output",
    "open_store",
    "job_table",
    "read_jobs",
    "read_manifest",
    "read_samples",
    "samples_dataset",
    "samples_table",
    "scan",
    "shard_path",
    "worker_env",
    "write_samples",
]
