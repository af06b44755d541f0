"""What a sweep's jobs will cost before they run: evaluations and dataset size (--dry-run).

Both are estimates. Evaluations are counted as the sampler's budget counts them, in
forward-equivalents of G and the network for one chain (a backward counts as two). The
``ess`` method (the default) stops a job at ``budget`` per requested sample, so its
figure is that cap. The gradient methods follow what they typically need on real networks
(bench/RESULTS.md, "Sampling efficiency"): ``fast`` about four outer iterations of the
augmented Lagrangian to seed K chains, then about two steps per sample and chain, each a
forward and a backward; the others run their fixed step counts.
The size of a sample is measured: images of G on a few codes from its prior (what the
default method's samples are drawn from), encoded as the store will, plus the code and
features columns at their stored precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from pipeline.models.generators import random_codes
from pipeline.runner.job import JobSpec
from pipeline.runner.models import Models
from pipeline.store import StoreFormat, encode_images
from pipeline.store.formats import compact_features

SEED_OUTER = 4  # outer iterations a seed phase typically takes
STEPS_PER_SAMPLE = 2  # fast steps per accepted sample and chain, typically
ROW_BYTES = 96  # ids, activations, bands, phase, step, chain (compressed), per sample


FORWARD_BACKWARD = 3  # forward-equivalents of one forward and one backward


def evaluations(job: JobSpec) -> int:
    """About how many forward-equivalent evaluations ``job`` takes."""
    s = job.sampler
    if s["method"] == "ess":
        return math.ceil(job.n * s["budget"])
    return FORWARD_BACKWARD * _gradient_steps(job)


def _gradient_steps(job: JobSpec) -> int:
    """Chain steps (forward + backward) of a gradient method's job."""
    s = job.sampler
    seed = min(s["max_seed_steps"], SEED_OUTER * s["steps_per_outer"])
    if s["method"] == "fast":
        sample = STEPS_PER_SAMPLE * math.ceil(max(job.n - s["k"], 0) / s["k"])
        if s.get("max_sample_steps") is not None:
            sample = min(sample, s["max_sample_steps"])
        return s["k"] * (seed + sample)
    if s["method"] == "joint":
        return job.n * seed
    return (job.n if s["method"] == "multistart" else s["k"]) * s["am_steps"]


def sample_bytes(models: Models, fmt: StoreFormat, probes: int = 4) -> float:
    """About how many bytes one stored sample takes (image, code, features, the rest)."""
    generator = models.generator
    codes = random_codes(generator, probes, 0)
    with torch.no_grad():
        images = generator(codes.to(models.device)).cpu()
        features = models.encoder(images.to(models.device)).cpu()
    image = sum(len(b) for b in encode_images(images, fmt.image)) / probes
    kind = fmt.code_type(generator.code_dim, int(images[0].numel()))
    code = 0 if kind is None else generator.code_dim * kind.byte_width
    kept = compact_features(features.flatten(1), fmt.features)
    return image + code + (0 if kept is None else 2 * kept.shape[1]) + ROW_BYTES


def summary(jobs: Sequence[JobSpec], models: Models, fmt: StoreFormat) -> str:
    """One line: jobs, samples, expected evaluations and expected dataset size."""
    samples = sum(job.n for job in jobs)
    evals = sum(evaluations(job) for job in jobs)
    each = sample_bytes(models, fmt)
    return (
        f"{len(jobs)} jobs, {samples} samples; expected about {evals:,} evaluations "
        f"(forward-equivalents of G and the network per chain) and {_size(samples * each)} of "
        "samples "
        f"({each / 1024:.1f} KB per sample: images {fmt.image}, codes {fmt.codes})"
    )


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"
