"""A fingerprint of the sampler's results: fixed problems, one hash per case.

Run it before and after a change that must not change results (``python -m
bench.identity``): equal hashes mean bit-identical codes, inputs, activations, features,
phases, steps, chains and stats (all but the wall time) for the same seeds. The cases pack
several jobs per batch with ``slots`` so that jobs enter and leave it, on the ``mnist`` preset
(relative bands on its logits; ``ess`` with each kernel and seed step, the subspace kernel and
the fast sampler) and on the weight-free ``toy`` preset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from typing import Any

import torch

from pipeline.models.transforms import RandomTransforms
from pipeline.runner import Worker
from pipeline.sampler import SamplerConfig, iter_problems
from pipeline.sampler.sampleset import SampleSet
from pipeline.sweep import compose, expand, to_plain
from pipeline.sweep.expand import model_settings

FIELDS = ("codes", "inputs", "activations", "features", "step", "chain", "in_band")
# name: (preset, units, n, sampler overrides)
CASES: dict[str, tuple[str, int, int, list[str]]] = {
    "mnist-ess": ("mnist", 8, 30, []),
    "mnist-ess-normal": ("mnist", 4, 30, ["sampler.seed_step=normal"]),
    "mnist-bounce": ("mnist", 4, 30, ["sampler.kernel=bounce"]),
    "mnist-subspace": ("mnist", 4, 30, ["sampler.subspace=on"]),
    "mnist-fast": ("mnist", 2, 20, ["sampler.method=fast"]),
    "toy-ess": ("toy", 4, 12, ["sampler.k=4"]),
}


def digest(results: list[SampleSet]) -> str:
    """sha256 of every field and stat (but the wall time) of ``results``, in order."""
    sha = hashlib.sha256()
    for result in results:
        for name in FIELDS:
            sha.update(getattr(result, name).contiguous().numpy().tobytes())
        stats = {k: v for k, v in result.stats.items() if k != "wall_seconds"}
        sha.update(json.dumps([result.phase, stats], sort_keys=True, default=repr).encode())
    return sha.hexdigest()


def run_case(preset: str, units: int, n: int, overrides: list[str]) -> list[SampleSet]:
    """The case's jobs (``units`` units x the 2 default relative bands) through the engine,
    4 jobs' chains in flight, in the order the jobs were expanded."""
    with tempfile.TemporaryDirectory(prefix="bench-identity-") as tmp:
        cfg = compose([
            f"preset={preset}", f"neurons.select=[{{layer: null, units: {list(range(units))}}}]",
            f"sampler.n={n}", f"output.dir={tmp}/out", "name=identity", *overrides,
        ])
        jobs, model = expand(cfg), model_settings(to_plain(cfg))
        worker = Worker(model, root=f"{tmp}/out")
        problems = [worker.prepare(job) for job in jobs]
        settings = dict(jobs[0].sampler)
        transform = settings.pop("transform", None)
        config = SamplerConfig.from_dict(settings)
        moves = RandomTransforms(**transform) if transform else None
        out = dict(iter_problems(worker.models.generator, worker.models.encoder, problems,
                                 config, moves, slots=4 * config.k))
    return [out[i] for i in range(len(problems))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print and return each case's hash and total rows evaluated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"of {list(CASES)}; default: all")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; pick from {list(CASES)}")
    torch.set_num_threads(1)
    report = {}
    for name in args.cases or list(CASES):
        results = run_case(*CASES[name])
        rows = sum(r.stats["evals_forward"] for r in results)
        report[name] = (digest(results), rows)
        print(f"{name:18s} {report[name][0][:16]} rows {rows}", flush=True)
    return report


if __name__ == "__main__":
    main()
