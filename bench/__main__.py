"""Run the benchmarks and write bench/RESULTS.md: ``python -m bench`` (``make bench``).

``--only efficiency,packing`` runs some sections (written to ``--out``, default
RESULTS.md); each section is also a module that prints its table alone
(``python -m bench.efficiency``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench import (
    atlas,
    breakdown,
    coverage,
    efficiency,
    ks,
    legible,
    logistic,
    overhead,
    overnight_slice,
    packing,
    passes,
    quality,
    size,
)
from bench.common import machine

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
GPU = Path(__file__).resolve().parent / "GPU.md"

Section = tuple[str, str, str, Callable[[], str]]


def sections() -> dict[str, Section]:
    """Name -> (title, description, command, function returning the markdown body)."""
    return {
        "coverage": (
            f"Coverage of the inverse set against exact samples (n = {coverage.N}, "
            f"K = {coverage.K})",
            coverage.__doc__, "python -m bench.coverage", coverage.markdown,
        ),
        "ks": (
            "The KS of the activations against a large exact reference, over seeds",
            ks.__doc__, "python -m bench.ks", ks.markdown,
        ),
        "overnight_slice": (
            f"The overnight slice: `imagenet`, 3 neurons x 6 bands, n = {overnight_slice.N}",
            overnight_slice.__doc__, "python -m bench.overnight_slice",
            lambda: overnight_slice.table(overnight_slice.run()),
        ),
        "logistic": (
            "Sampling efficiency and quality: the logistic unit (n = 500, K = 10)",
            logistic.__doc__, "python -m bench.logistic",
            lambda: logistic.table(logistic.run()),
        ),
        "efficiency": (
            "Sampling efficiency on `mnist` and `faces` (n = 500, K = 10)",
            efficiency.__doc__, "python -m bench.efficiency",
            lambda: efficiency.table(efficiency.run()),
        ),
        "overhead": (
            "Overhead: time per sampler step against a bare forward + backward",
            overhead.__doc__, "python -m bench.overhead",
            lambda: overhead.table(overhead.run()),
        ),
        "packing": (
            "Packing jobs into one batch, and Ray actors",
            packing.__doc__, "python -m bench.packing",
            lambda: packing.table(packing.packing() + packing.ray_scaling()) + "\n\n"
            + packing.efficiency_report(packing.device_efficiencies()) + "\n\n"
            + breakdown.table(breakdown.breakdown()),
        ),
        "passes": (
            "Device efficiency, third round: rows and passes",
            passes.__doc__, "python -m bench.passes --preset mnist; python -m bench.passes "
            "--preset faces --size 64 --rows 5,10,40 --repeats 5", passes.markdown,
        ),
        "size": (
            "Size: bytes per stored sample on `imagenet` at 128 px",
            size.__doc__, "python -m bench.size",
            lambda: size.table(size.run()),
        ),
        "quality": (
            "Quality at equal compute: every method on one neuron and band",
            quality.__doc__, "python -m bench.quality",
            lambda: "\n\n".join(quality.table(*quality.run(name)) for name in quality.SETUPS),
        ),
        "legible": (
            "Legible `imagenet` samples: top-5 and flat grey images, before and after",
            legible.__doc__, "python -m bench.legible", legible.markdown,
        ),
        "atlas": (
            "The atlas at the scale of an overnight sweep",
            atlas.__doc__, "python -m bench.atlas",
            lambda: atlas.table(atlas.run()),
        ),
    }


def gpu_section() -> list[str]:
    """Where the GPU numbers come from, and the last ones if bench/GPU.md exists."""
    lines = ["## GPU throughput", "",
             "Not part of `make bench`: `bench/gpu.sh` on a machine with one NVIDIA GPU (about "
             "5 minutes; see its header) writes GPU.md: the bare passes with each device "
             "speed option, the sampler's evaluations/s, samples/s and device utilisation "
             "at 160 to 5120 chains (continuous batching, the overnight sweep's jobs), "
             "several processes on one device, and the projected time of the 1000-neuron x "
             "6-band x 500-sample sweep.", ""]
    if GPU.is_file():
        text = re.sub(r"^(#+) ", r"##\1 ", GPU.read_text(), flags=re.M)
        lines += ["Last bench/GPU.md:", "", text, ""]
    else:
        lines += ["No bench/GPU.md yet: it has not been run on a GPU.", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the chosen sections and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated section names")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    chosen = sections()
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - set(chosen))
        if unknown:
            parser.error(f"unknown sections {unknown}; valid: {sorted(chosen)}")
        chosen = {k: v for k, v in chosen.items() if k in names}
    start = time.perf_counter()
    lines = [
        "# Benchmark results",
        "",
        f"Made by `make bench` (`python -m bench`) on: {machine()}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}.",
        "Each section's own command is named under its title. Ratios and step counts are "
        "comparable across machines; seconds are for this machine only, which other jobs "
        "shared while it ran.",
        "",
    ]
    for name, (title, doc, command, body) in chosen.items():
        began = time.perf_counter()
        text = body()
        took = time.perf_counter() - began
        print(f"bench: {name} done in {took:.0f} s", file=sys.stderr)
        lines += [f"## {title}", "", f"Command: `{command}` ({took:.0f} s here).", "",
                  " ".join((doc or "").split()), "", text, ""]
    lines += gpu_section()
    lines.append(f"Total benchmark time: {time.perf_counter() - start:.0f} s.")
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
