"""Size: bytes per stored sample on the `imagenet` preset at 128 px, per storage format.

One job of the sweep's own kind (the first output unit of the `imagenet` preset, Fourier
G at 128 px -> MobileNetV2, band = the 50-90% part of its observed range over 256 random
codes, n = 50, K = 10, the default sampler with 8-bit samples) is sampled once; its
samples are then stored as one Parquet shard (zstd, page checksums: what a sweep writes)
in each format of ``output.codes`` x ``output.image``, and the shard's size on disk is
divided by its rows. "float32 codes, png" is what the store wrote before ``output.codes``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from pipeline.runner import Worker
from pipeline.sampler import SamplerConfig, iter_problems
from pipeline.store import StoreFormat, samples_table
from pipeline.store.shards import write_shard
from pipeline.sweep import compose, expand, to_plain
from pipeline.sweep.expand import model_settings

FORMATS = (
    ("float32", "png", 0), ("float16", "png", 0), ("auto", "png", 64), ("auto", "webp", 64),
)


def sample_once(n: int = 50) -> tuple[object, list[dict], object]:
    """``(job, neurons, SampleSet)``: one imagenet job at 128 px, sampled in this process."""
    cfg = compose(["preset=imagenet", "neurons.select=[{layer: null, units: [0]}]",
                   "bands.values=[[0.5, 0.9]]", f"sampler.n={n}"])
    plain = to_plain(cfg)
    job = expand(plain)[0]
    worker = Worker(model_settings(plain), device="cpu", threads=2)
    _, ready = worker._prepare([job])
    settings = {k: v for k, v in job.sampler.items() if k != "transform"}
    [(_, result)] = list(iter_problems(worker.models.generator, worker.models.encoder,
                                       [ready[0][1]], SamplerConfig.from_dict(settings)))
    return job, [ref.as_dict() for ref in job.neurons], result


def run(n: int = 50) -> list[dict]:
    """Bytes per sample of one sampled job in each storage format."""
    job, neurons, result = sample_once(n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-size-") as tmp:
        for codes, image, features in FORMATS:
            fmt = StoreFormat(codes=codes, image=image, features=features)
            table = samples_table(job.job_id, job.target, neurons, result, fmt)
            path = write_shard(table, Path(tmp) / f"{codes}-{image}.parquet")
            images = sum(len(b) for b in table.column("image").to_pylist())
            rows.append({
                "format": f"codes {codes}, {image}, features {features or 'none'}",
                "samples": table.num_rows, "disk": path.stat().st_size / table.num_rows,
                "image": images / table.num_rows,
            })
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of bytes per sample."""
    lines = ["| format (output.codes, output.image, output.features) | samples | KB per sample "
             "on disk | of which image |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['format']} | {r['samples']} | {r['disk'] / 1024:.1f} | "
                     f"{r['image'] / 1024:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(table(run()))
