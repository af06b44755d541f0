"""Run the benchmarks and write bench/RESULTS.md: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch

from bench import logistic

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """One line naming the machine the absolute times come from."""
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def main() -> None:
    """Run every section and write the results file."""
    torch.set_num_threads(2)
    start = time.perf_counter()
    sections = [
        (
            "Sampling efficiency and quality: the logistic unit (n = 500, K = 10)",
            logistic.__doc__,
            logistic.table(logistic.run()),
        ),
    ]
    lines = [
        "# Benchmark results",
        "",
        f"Made by `make bench` (`{sys.executable.split('/')[-1]} -m bench`) on: {machine()}.",
        "Ratios and step counts are comparable across machines; seconds are for this machine only.",
        "",
    ]
    for title, doc, body in sections:
        lines += [f"## {title}", "", " ".join((doc or "").split()), "", body, ""]
    lines.append(f"Total benchmark time: {time.perf_counter() - start:.0f} s.")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
