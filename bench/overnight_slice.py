"""A slice of the overnight sweep, run through the real sweep (issue 11's overnight target).

``conf/overnight.yaml`` (the ``imagenet`` preset: a Fourier G at 128 px feeding MobileNetV2,
the ladder of six logit bands 0-5 ... 25-30, K = 10) on its first three output neurons
(tench, goldfish, great white shark) x the six bands, at ``--n`` samples per job, with
``cluster=local`` (one actor of one CPU, jobs packed four to a batch as on the cluster).
Reported per job, from the jobs dataset: status, samples returned, forward-equivalent
evaluations of G per returned sample (a backward counts as two; seeds included), split-
R-hat and ESS. Target (issue 11): every job ``done`` with n samples or ``infeasible``, at
<= 20 forward-equivalent evaluations per sample on average (total over the slice / samples
returned). Evaluation counts do not depend on the device, so a CPU run measures the GPU
target. Rerun after a sampler change with the same command (sweep overrides such as
``sampler.budget=50`` may follow); ``--out`` keeps the dataset (a rerun there resumes
instead of sampling again).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.common import fmt
from pipeline import sweep
from pipeline.store.dataset import read_jobs
from pipeline.zoo.labels import imagenet_labels

N = 500
NEURONS = (0, 3)  # output units [start, stop): tench, goldfish, great white shark


def overrides(n: int, neurons: tuple[int, int], out: Path, cpus: int = 1) -> list[str]:
    """Hydra overrides that cut the overnight config down to the slice, run locally."""
    return [
        "cluster=local", f"cluster.local_cpus={cpus}", f"cluster.num_cpus={cpus}",
        "cluster.progress_seconds=60",
        f"neurons.select=[{{layer: null, range: [{neurons[0]}, {neurons[1]}]}}]",
        f"sampler.n={n}", f"output.dir={out}",
    ]


def job_rows(root: str | Path) -> list[dict]:
    """One row per job record of a sweep dataset, ordered by unit and band."""
    rows, labels = [], imagenet_labels()
    for rec in read_jobs(root).to_pylist():
        stats = json.loads(rec["stats"] or "{}")
        evals = stats.get("evals_forward", 0) + 2 * stats.get("evals_backward", 0)
        rows.append({
            "unit": rec["neurons"][0]["unit"], "label": labels[rec["neurons"][0]["unit"]],
            "band": (rec["bands"][0]["lo"], rec["bands"][0]["hi"]), "status": rec["status"],
            "samples": rec["n_samples"], "requested": rec["n_requested"], "evals": evals,
            "per_sample": evals / rec["n_samples"] if rec["n_samples"] else None,
            "rhat": stats.get("rhat"), "ess": stats.get("ess"),
            "seconds": rec["wall_seconds"],
        })
    return sorted(rows, key=lambda r: (r["unit"], r["band"]))


def run(n: int = N, neurons: tuple[int, int] = NEURONS, out: Path | None = None,
        cpus: int = 1, extra: tuple[str, ...] = ()) -> list[dict]:
    """Run the slice through ``pipeline.sweep`` (into ``out``, or a temporary folder), with
    ``extra`` Hydra overrides after the slice's, and return its per-job rows."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out) if out is not None else Path(tmp) / "slice"
        cfg = sweep.compose([*overrides(n, neurons, folder, cpus), *extra],
                            config_name="overnight")
        return job_rows(sweep.run(cfg))


def verdict(rows: list[dict]) -> dict:
    """The target's two parts: jobs ``done`` with n or ``infeasible``, and the slice's
    forward-equivalent evaluations per returned sample."""
    ok = sum(r["status"] == "infeasible" or (r["status"] == "done"
                                              and r["samples"] == r["requested"]) for r in rows)
    samples = sum(r["samples"] for r in rows)
    evals = sum(r["evals"] for r in rows)
    return {"jobs": len(rows), "ok": ok, "samples": samples,
            "per_sample": evals / samples if samples else None}


def table(rows: list[dict]) -> str:
    """Markdown: one line per job, then the slice's totals against the target."""
    lines = ["| neuron | band | status | samples | fwd-equiv. / sample | R-hat | ESS | s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['unit']} ({r['label']}) | {r['band'][0]:g}-{r['band'][1]:g} | "
            f"{r['status']} | {r['samples']} / {r['requested']} | "
            f"{fmt(r['per_sample'], '.1f')} | {fmt(r['rhat'], '.3f')} | "
            f"{fmt(r['ess'], '.0f')} | {fmt(r['seconds'], '.0f')} |")
    v = verdict(rows)
    lines += ["", f"{v['ok']} of {v['jobs']} jobs `done` with n samples or `infeasible`; "
              f"{v['samples']} samples at {fmt(v['per_sample'], '.1f')} forward-equivalent "
              "evaluations per sample over the slice (target: all jobs, <= 20)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the slice and print its table."""
    ap = argparse.ArgumentParser(prog="python -m bench.overnight_slice")
    ap.add_argument("--n", type=int, default=N, help="samples per job (overnight: 500)")
    ap.add_argument("--units", default=f"{NEURONS[0]},{NEURONS[1]}",
                    help="output units as start,stop (stop exclusive)")
    ap.add_argument("--out", type=Path, default=None, help="keep the dataset here")
    ap.add_argument("--cpus", type=int, default=1, help="CPUs of the local Ray (one actor)")
    ap.add_argument("overrides", nargs="*", help="more sweep overrides, e.g. sampler.budget=50")
    args = ap.parse_args(argv)
    start, stop = (int(v) for v in args.units.split(","))
    print(table(run(args.n, (start, stop), args.out, args.cpus, tuple(args.overrides))))


if __name__ == "__main__":
    main()
