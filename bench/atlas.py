"""Atlas build and load times on a synthetic dataset (no sampler runs).

``python -m bench.atlas [--neurons 1000] [--bands 6] [--samples 500] [--size 16]`` writes a
synthetic sweep dataset with the store's own writer (random structured images, made-up
statistics and diagnostics, some bands infeasible and some jobs failed), builds its atlas,
rebuilds it with nothing changed and after a resumed sweep added ``--added`` neurons, counts
the atlas's files, and opens the index and one neuron page (its map and every sample) in
headless Chromium (unless ``--no-browser``). It also times ``read_jobs`` alone: the
rebuilds read only the job records that are new or changed (pipeline.store.jobcache).
Few samples (``--samples 2 --size 8``) give the same number of job records quickly.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.atlas import AtlasSettings, build
from pipeline.atlas.browser import Chromium
from pipeline.sampler import SampleSet
from pipeline.store import JobRecord, SweepStore, job_table, read_jobs, samples_table
from pipeline.store.schema import STATUSES

CODE_DIM = 8
FEATURE_DIM = 4


def _images(codes: np.ndarray, size: int, level: float) -> torch.Tensor:
    """RGB images (n, 3, size, size) in [0, 1], 8-bit: plaid patterns set by the codes."""
    grid = np.linspace(0, 2 * np.pi, size, dtype=np.float32)
    y, x = np.meshgrid(grid, grid, indexing="ij")
    c = codes[:, :, None, None]
    channels = [
        np.sin(c[:, 0] * x + c[:, 1] * y + k) * np.cos(c[:, 2 + k] * x - c[:, 5] * y)
        for k in range(3)
    ]
    pixels = np.clip(0.5 * level + 0.25 * np.stack(channels, axis=1) + 0.25, 0, 1)
    return torch.from_numpy(np.round(pixels * 255) / 255).float()


def _result(rng: np.random.Generator, n: int, band: tuple[float, float], size: int,
            level: float, steps: int) -> SampleSet:
    codes = rng.normal(size=(n, CODE_DIM)).astype(np.float32)
    acts = rng.uniform(band[0], band[1], size=(n, 1))
    features = np.tanh(codes[:, :FEATURE_DIM] + level)  # E-features that move with the band
    return SampleSet(
        codes=torch.from_numpy(codes), inputs=_images(codes, size, level),
        activations=torch.from_numpy(acts), features=torch.from_numpy(features),
        phase=["seed"] + ["sample"] * (n - 1), step=torch.arange(n) * 3,
        chain=torch.arange(n) % 10, in_band=torch.ones(n, dtype=torch.bool), bands=[band],
        feasible=True, stats={"seed_steps": steps, "sample_steps": 4 * n},
    )


def _stats(rng: np.random.Generator, n: int, steps: int, reached: bool) -> dict:
    if not reached:
        return {"seed_steps": steps, "sample_steps": 0, "best_activations": [1.5]}
    return {
        "seed_steps": steps, "sample_steps": 4 * n, "wall_seconds": float(rng.uniform(1, 9)),
        "acceptance": float(rng.uniform(0.2, 0.9)), "feasibility": 1.0, "distinct": True,
        "redundancy": float(rng.uniform(0.05, 0.6)), "edge_share": float(rng.uniform(0, 0.1)),
        "rhat": float(rng.uniform(0.99, 1.3)), "ess": float(rng.uniform(0.2, 1.0) * n),
        "evals_per_sample": float(rng.uniform(2, 40)),
    }


def _status(count: int, top: bool, member: int) -> str:
    """The made-up outcome of the ``count``-th job (``top``: the neuron's highest band)."""
    if count % 97 == 0:
        return "failed"
    if top and member % 7 == 3:
        return "infeasible"
    if count % 13 == 0 and "partial" in STATUSES:  # once the store knows partial jobs
        return "partial"
    return "done"


def synthetic_dataset(
    root: str | Path, neurons: int = 50, bands: int = 6, samples: int = 20, size: int = 16,
    seed: int = 0, layer: str = "classifier.1", preset: str = "imagenet",
    intersections: Sequence[tuple[str, Sequence[int]]] = (), sweep: str = "synthetic",
    units: Sequence[int] | None = None,
) -> Path:
    """Write a synthetic sweep dataset into ``root`` (appending when it exists); return it.

    Bands are the figure-1 ladder [0, 10], ..., one job per neuron and band. The top band of
    every 7th neuron is infeasible, one job in 97 failed and, when the store knows the
    status, one in 13 partial (half its samples). ``intersections`` are
    ``(name, units)`` groups sampled jointly in every band.
    """
    rng = np.random.default_rng(seed)
    units = list(range(neurons)) if units is None else list(units)
    targets = [([u], f"{layer}:{u}", (layer, u)) for u in units]
    targets += [(list(m), name, ("intersection", i)) for i, (name, m) in enumerate(intersections)]
    count = 0
    with SweepStore(root, sweep, {"name": sweep}) as store:
        for members, target, partition in targets:
            refs = [{"layer": layer, "unit": u, "spatial": "center"} for u in members]
            for b in range(bands):
                band, count = (10.0 * b, 10.0 * (b + 1)), count + 1
                spec = {"neurons": refs, "bands": [{"lo": band[0], "hi": band[1],
                        "scale": "absolute"}] * len(refs), "n": samples, "seed": seed,
                        "sampler": {"k": 10}, "model": {"preset": {"name": preset}}}
                job_id = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
                steps = int(rng.integers(20, 400))
                status = _status(count, b == bands - 1, members[0])
                kept = samples // 2 if status == "partial" else samples
                table = None
                if status in ("done", "partial"):
                    result = _result(rng, kept, band, size, (b + 1) / bands, steps)
                    result.activations = result.activations.repeat(1, len(refs))
                    result.bands = [band] * len(refs)
                    table = samples_table(job_id, target, refs, result)
                record = JobRecord(
                    job_id, sweep, target, status, refs, samples, seed, spec,
                    bands=[band] * len(refs) if status != "failed" else None,
                    n_samples=kept if table is not None else 0,
                    error="RuntimeError: out of memory" if status == "failed" else None,
                    stats=_stats(rng, kept, steps, table is not None), device="cpu",
                )
                store.write(job_id, partition, table, job_table(record))
    return Path(root)


def _timed(times: dict[str, float], name: str, dataset: Path, out: Path,
           workers: int) -> Path:
    start = time.perf_counter()
    index = build(dataset, out, AtlasSettings(workers=workers), stream=io.StringIO())
    times[name] = time.perf_counter() - start
    return index


def _browse(index: Path) -> dict[str, Any]:
    """Open the index and the first neuron page (with its map) in headless Chromium."""
    with Chromium() as browser:
        found: dict[str, Any] = {"wall": browser.open(index, "document.body.dataset.ready")}
        found["ready_ms"] = float(browser.evaluate("document.body.dataset.readyMs"))
        found["rows"] = browser.evaluate("document.body.dataset.rows")
        page = index.parent / browser.evaluate(
            "document.querySelector('#entries a').getAttribute('href')")
        found["page_wall"] = browser.open(page)
        found["page_marks"] = browser.evaluate("Object.assign({}, document.body.dataset)")
        found["errors"] = browser.errors()
    return found


def run(neurons: int = 1000, bands: int = 6, samples: int = 500, size: int = 16,
        added: int = 10, workers: int = 0, work: Path | None = None,
        browse: bool = True) -> dict[str, Any]:
    """Write the synthetic dataset, read its job records, build, rebuild, extend and
    rebuild, browse (unless not ``browse``); the numbers."""
    work = work or Path(tempfile.mkdtemp(prefix="bench-atlas-"))
    dataset, out = work / "dataset", work / "atlas"
    start = time.perf_counter()
    synthetic_dataset(dataset, neurons, bands, samples, size,
                      intersections=[("pair 0+1", [0, 1])])
    made = time.perf_counter() - start
    times: dict[str, float] = {}
    start = time.perf_counter()
    records = read_jobs(dataset).num_rows
    read = (records, time.perf_counter() - start)
    index = _timed(times, "full build", dataset, out, workers)
    _timed(times, "rebuild, nothing changed", dataset, out, workers)
    synthetic_dataset(dataset, bands=bands, samples=samples, size=size, seed=1,
                      units=range(neurons, neurons + added))
    _timed(times, f"rebuild after a resumed sweep added {added} neurons", dataset, out,
           workers)
    return {"neurons": neurons, "bands": bands, "samples": samples, "size": size,
            "written": made, "read_jobs": read, "times": times,
            "files": sum(1 for p in out.rglob("*") if p.is_file()),
            "workers": workers or os.cpu_count(), **(_browse(index) if browse else {}),
            "out": out}


def table(r: dict[str, Any]) -> str:
    """The results as a markdown table."""
    jobs = r["neurons"] * r["bands"]
    rows = [
        (f"write the dataset ({r['neurons']} neurons x {r['bands']} bands x {r['samples']} "
         f"samples = {jobs * r['samples']:,} samples, {r['size']}x{r['size']} PNGs)",
         f"{r['written']:.0f} s"),
        (f"`read_jobs`: all {r['read_jobs'][0]:,} job records in one process",
         f"{r['read_jobs'][1]:.1f} s"),
        *((f"{name} ({r['workers']} processes)", f"{seconds:.1f} s")
          for name, seconds in r["times"].items()),
        ("atlas folder", f"{r['files']:,} files ({r['files'] / jobs:.2f} per neuron x band)"),
    ]
    if "rows" not in r:  # not browsed
        return _markdown(rows)
    marks = r["page_marks"]
    rows += [
        (f"index in headless Chromium: first {r['rows']} rows with previews ready",
         f"{r['ready_ms']:.0f} ms after navigation ({r['wall']:.2f} s wall)"),
        (f"a neuron page: map of {marks.get('points')} samples, {marks.get('loaded')} sprite "
         f"sheets decoded", f"{r['page_wall']:.2f} s, console errors: {len(r['errors'])}"),
    ]
    return _markdown(rows)


def _markdown(rows: list[tuple[str, str]]) -> str:
    """Rows of (step, result) as a markdown table."""
    return "\n".join(["| step | result |", "|---|---|",
                      *(f"| {step} | {value} |" for step, value in rows)])


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--bands", type=int, default=6)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--added", type=int, default=10, help="neurons a resumed sweep adds")
    parser.add_argument("--workers", type=int, default=0, help="build processes (0: per CPU)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--no-browser", action="store_true",
                        help="skip opening the atlas in headless Chromium")
    args = parser.parse_args(argv)
    result = run(args.neurons, args.bands, args.samples, args.size, args.added, args.workers,
                 args.dir, browse=not args.no_browser)
    print(table(result))
    print(f"atlas: {result['out'] / 'index.html'}")


if __name__ == "__main__":
    main()
