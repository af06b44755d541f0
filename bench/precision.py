"""Seed-phase speed with ``sampler.precision``: float32 against bf16-seeds.

``python -m bench.precision [--preset faces] [--chains 64] [--steps 20] [--repeats 3]
[--device cpu]``. One job of ``chains`` chains on an output neuron of the preset, with a
band out of reach (so the seed phase runs exactly ``steps`` gradient steps and ends
infeasible), timed with each precision (alternating, ``repeats`` times, median), next to
the bare forward + backward of :func:`bench.gpu.bare_step` at the same rows with and
without bf16 autocast. bf16-seeds adds a float32 forward per step (the band checks read
float32), so it pays only where bf16 makes the forward + backward more than a third faster.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.gpu import bare_step
from pipeline import zoo
from pipeline.sampler import Problem, SamplerConfig, iter_problems

FAR = (1e6, 2e6)  # a band no output reaches: the seed phase runs all its steps


def seed_seconds(preset: zoo.Preset, chains: int, steps: int, precision: str) -> float:
    """Seconds per seed step of one job of ``chains`` chains at ``precision``."""
    config = SamplerConfig(k=chains, method="fast", max_seed_steps=steps, quantize=True,
                           precision=precision)
    problem = Problem([(preset.neuron(0), *FAR)], n=chains, seed=0)
    start = time.perf_counter()
    [(_, result)] = list(iter_problems(preset.generator, preset.encoder(), [problem], config))
    assert result.status == "infeasible" and result.stats["seed_steps"] == steps
    return (time.perf_counter() - start) / steps


def main() -> None:
    """Print a markdown table: seconds per seed step and bare step, and the speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="faces")
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    preset = zoo.load(args.preset, device=args.device)
    seed_seconds(preset, args.chains, 2, "bf16-seeds")  # warm-up
    times: dict[str, list[float]] = {"float32": [], "bf16-seeds": []}
    for _ in range(args.repeats):
        for precision, into in times.items():
            into.append(seed_seconds(preset, args.chains, args.steps, precision))
    plain, bf16 = (statistics.median(times[p]) for p in ("float32", "bf16-seeds"))
    bare = [bare_step(preset, preset.network, args.chains, args.device, bf16=b)
            for b in (False, True)]
    print(f"{args.preset}, {args.chains} chains, {args.device}, {torch.get_num_threads()} "
          f"threads (medians of {args.repeats})\n")
    print("| measure | float32 (s) | bf16 (s) | speed-up |\n|---|---|---|---|")
    print(f"| seed step (sampler.precision) | {plain:.4f} | {bf16:.4f} | {plain / bf16:.2f} |")
    print(f"| bare forward + backward | {bare[0]:.4f} | {bare[1]:.4f} | "
          f"{bare[0] / bare[1]:.2f} |")


if __name__ == "__main__":
    main()
