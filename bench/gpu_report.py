"""The markdown of ``bench/gpu.py``'s rows (``GPU.md``): environment, bare passes, sampler
windows, the projection of the overnight sweep, torch.compile and what was left out."""

from __future__ import annotations

from typing import Any

TARGET_MINUTES = 15.0


def _f(value: float | None, fmt: str = ".1f") -> str:
    """A number, or '-' for None."""
    return "-" if value is None else format(value, fmt)


def _bare(rows: list[dict[str, Any]]) -> list[str]:
    """The bare-pass table, with each variant's speed-up over plain at the same rows."""
    plain = {(r["preset"], r["rows"]): r["seconds"] for r in rows if r["variant"] == "plain"}
    lines = ["| preset | rows | variant | s per pass | rows/s | speed-up over plain |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        base = plain.get((r["preset"], r["rows"]))
        if r["error"]:
            lines.append(f"| {r['preset']} | {r['rows']} | {r['variant']} | {r['error']} | | |")
            continue
        verify = r["variant"].startswith("forward only")
        gain = base / r["seconds"] if base and not verify else None
        lines.append(f"| {r['preset']} | {r['rows']} | {r['variant']} | {r['seconds']:.4f} "
                     f"| {r['rows_per_s']:.0f} | {_f(gain, '.2f')} |")
    return lines


def _windows(rows: list[dict[str, Any]]) -> list[str]:
    """The sampler-window table."""
    lines = ["| preset | chains (K x jobs) | variant | s | steps/s | samples | samples/s "
             "| samples/s, 2nd half | evaluations/s | batch passes' share | device busy "
             "| jobs finished | evals per sample (finished) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['preset']} | {r['chains']} | {r.get('variant', 'float32')} "
                         f"| {r['error']} | | | | | | | | | |")
            continue
        busy = "-" if r["utilisation"] is None else f"{r['utilisation']:.0f}%"
        lines.append(
            f"| {r['preset']} | {r['chains']} | {r.get('variant', 'float32')} | {r['seconds']:.1f} "
            f"| {r['steps_per_s']:.2f} | {r['samples']} | {r['samples_per_s']:.1f} "
            f"| {r['late_samples_per_s']:.1f} | {r['evals_per_s']:.0f} "
            f"| {_f(r['pass_share'], '.2f')} | {busy} "
            f"| {r['jobs_finished']} | {_f(r['evals_per_sample'])} |")
    return lines


def _parallel(rows: list[dict[str, Any]]) -> list[str]:
    """The table of several processes on one device."""
    lines = ["| preset | processes x chains | samples/s | samples/s, 2nd half | evaluations/s "
             "| batch passes' share (mean) | device busy | warm-up s (slowest) | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        busy = "-" if r["utilisation"] is None else f"{r['utilisation']:.0f}%"
        lines.append(f"| {r['preset']} | {r['procs']} x {r['chains']} | {r['samples_per_s']:.1f} "
                     f"| {r['late_samples_per_s']:.1f} | {r['evals_per_s']:.0f} "
                     f"| {r['pass_share']:.2f} | {busy} | {r['warm_seconds']:.1f} "
                     f"| {'; '.join(r['errors']) or '-'} |")
    return lines


def _name(r: dict[str, Any]) -> str:
    """How the projection names a window or a parallel row."""
    if r["kind"] == "parallel":
        return f"`imagenet`, {r['procs']} processes x {r['chains']} chains"
    return f"`imagenet`, {r['chains']} chains, {r.get('variant', 'float32')}"


def projection(windows: list[dict[str, Any]], sweep_samples: int) -> list[str]:
    """Minutes of the overnight sweep on one device at the best `imagenet` window (or set
    of processes): at its samples/s (this band mix, early in the jobs), and at its
    evaluations/s for 10 and 30 forward-equivalent evaluations per sample (the mission's
    bar and the paper's cost)."""
    good = [r for r in windows if r["preset"] == "imagenet" and not r.get("error")
            and r["evals_per_s"] > 0]
    if not good:
        return ["No `imagenet` window ran to a rate: no projection."]
    best = max(good, key=lambda r: r["evals_per_s"])
    name = _name(best)
    lines = [f"Projected overnight sweep ({sweep_samples:,} samples) on this device, from the "
             f"window with the most evaluations/s ({name}: {best['evals_per_s']:.0f}/s):", ""]
    for per_sample in (10, 30):
        minutes = sweep_samples * per_sample / best["evals_per_s"] / 60
        verdict = "within" if minutes <= TARGET_MINUTES else "over"
        lines.append(f"- at {per_sample} evaluations per sample: **{minutes:.1f} minutes** "
                     f"({verdict} the {TARGET_MINUTES:.0f}-minute target)")
    if best["late_samples_per_s"] > 0:
        minutes = sweep_samples / best["late_samples_per_s"] / 60
        lines.append(f"- at this window's own samples/s in its second half "
                     f"({best['late_samples_per_s']:.1f}/s, the overnight band mix early in "
                     f"its jobs): {minutes:.1f} minutes")
    return lines


def report(rows: list[dict[str, Any]], size: int, sweep_samples: int) -> str:
    """The whole markdown of the rows measured so far."""
    env = next((r for r in rows if r["kind"] == "env"), {"device": "?", "torch": "?"})
    kinds = {k: [r for r in rows if r["kind"] == k]
             for k in ("bare", "warm", "window", "parallel", "compile", "skipped")}
    lines = [f"# GPU throughput ({env['device']}, {size} px, torch {env['torch']})", ""]
    if kinds["bare"]:
        lines += ["## Bare passes (codes -> G -> network -> gradient to the codes)", "",
                  *_bare(kinds["bare"]), ""]
    if kinds["warm"]:
        lines += ["Planning the sampler's row counts (forward, and forward + backward, at 8 "
                  "to 1024 rows) before the windows: " + "; ".join(
                      f"`{r['preset']}` {r['variant']} {r['seconds']:.1f} s"
                      for r in kinds["warm"]) + ".", ""]
    if kinds["window"]:
        lines += ["## The sampler, continuous batching (K = 10)", "", *_windows(kinds["window"]),
                  ""]
    if kinds["parallel"]:
        lines += ["## Several sampler processes on one device", "",
                  *_parallel(kinds["parallel"]), ""]
    if kinds["window"] or kinds["parallel"]:
        lines += [*projection(kinds["window"] + kinds["parallel"], sweep_samples), ""]
    for r in kinds["compile"]:
        lines += [f"torch.compile of the `{r['preset']}` network at {r['rows']} rows: first "
                  f"call {r['first_seconds']:.1f} s (compilation), then {r['seconds']:.4f} s "
                  f"per pass against {r['plain_seconds']:.4f} s plain (speed-up "
                  f"{r['speed_up']:.2f}).", ""]
    for r in [r for r in rows if r["kind"] == "error"]:
        lines += [f"Error in `{r['preset']}`: {r['error']}", ""]
    if kinds["skipped"]:
        lines += ["Left out (the time budget ran out): "
                  + "; ".join(r["what"] for r in kinds["skipped"]) + ".", ""]
    return "\n".join(lines)
