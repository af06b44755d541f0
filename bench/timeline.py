"""Where a sweep's wall time x actors goes: each actor's timeline, with timestamps.

While :func:`recording` is open, every :class:`pipeline.runner.Pool` runs
:class:`TimedWorker` actors (a :class:`Worker` that notes when its process started, when it
had loaded the models, each stretch of its sampling thread's work with that thread's CPU
time, and its writer thread's CPU time) and notes on the driver when it launched each actor
and when each answered. As the pool stops, each actor's notes are read. :func:`split` then
cuts each actor's share of the sweep's wall time (from the run's start to its end) into:
before its process ran, its start (process, imports, models), waiting for its first jobs,
sampling (the sampling thread in the engine: its CPU time, and the rest, when the thread
waited for a core), idle between jobs, and the tail (its last job's end to the sweep's
end). Clocks: ``time.time`` on one machine (the driver and local actors share it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray

from pipeline.runner import Pool, Worker

SEGMENTS = ("before its process", "start (process, imports, models)", "waiting for first jobs",
            "sampling: sampling thread's CPU", "sampling: waiting for a core",
            "idle between jobs", "tail (after its last job)")


def process_start_time() -> float:
    """When this process started (``time.time`` scale; /proc, 10 ms resolution)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def helpers_cpu() -> dict[int, float]:
    """CPU seconds so far of each of this process's descendants (a local Ray's raylet, GCS,
    agents and workers, with their children), by process id."""
    parents, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    found, todo = set(), [os.getpid()]
    while todo:
        parent = todo.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        todo += children
    return {pid: cpu[pid] for pid in found}


class TimedWorker(Worker):
    """A :class:`Worker` that notes its timeline (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        began = time.time()
        super().__init__(*args, **kwargs)
        self._notes: dict[str, Any] = {"process": process_start_time(), "init": began,
                                       "ready": time.time(), "busy": [], "sampling_cpu": 0.0,
                                       "writer_cpu": 0.0}
        self._notes_lock = threading.Lock()

    def _drain(self, *args: Any, **kwargs: Any) -> None:
        begin, cpu = time.time(), time.thread_time()
        try:
            super()._drain(*args, **kwargs)
        finally:
            with self._notes_lock:
                self._notes["busy"].append((begin, time.time()))
                self._notes["sampling_cpu"] += time.thread_time() - cpu

    def _stored(self, *args: Any, **kwargs: Any) -> Any:
        cpu = time.thread_time()
        try:
            return super()._stored(*args, **kwargs)
        finally:
            with self._notes_lock:
                self._notes["writer_cpu"] += time.thread_time() - cpu

    def timeline(self) -> dict[str, Any]:
        """The notes so far, with the process's CPU seconds (all threads)."""
        with self._notes_lock:
            notes = {**self._notes, "busy": list(self._notes["busy"])}
        return {**notes, "process_cpu": time.process_time()}


@contextmanager
def recording() -> Iterator[dict[str, Any]]:
    """While the block runs, pools run :class:`TimedWorker` actors; yields a dict that gets
    ``actors`` (each actor's notes, with ``launched`` and ``joined`` from the driver) and
    ``stop`` (when the pool began to stop them); ``helpers_cpu``: the CPU seconds Ray's other
    processes (:func:`helpers_cpu`, the actors left out) spent from the block's start until
    then."""
    notes: dict[str, Any] = {"actors": [], "launches": [], "helpers_start": helpers_cpu()}
    init, launch, join, stop = Pool.__init__, Pool._launch, Pool._join, Pool.stop

    def timed_init(self: Pool, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.worker = TimedWorker

    def timed_launch(self: Pool) -> Any:
        ref = launch(self)
        notes["launches"].append((ref, time.time()))
        return ref

    def timed_join(self: Pool, ref: Any) -> None:
        launched = next(t for r, t in notes["launches"] if r == ref)
        join(self, ref)
        self.actors[self._ids].info.update(launched=launched, joined=time.time())

    def timed_stop(self: Pool) -> None:
        if self.actors:
            notes.setdefault("stop", time.time())
            actors = {a.info["pid"] for a in self.actors.values()}
            notes["helpers_cpu"] = sum(seconds - notes["helpers_start"].get(pid, 0.0)
                                       for pid, seconds in helpers_cpu().items()
                                       if pid not in actors)
        for actor in self.actors.values():
            timeline = ray.get(actor.handle.timeline.remote())
            notes["actors"].append({**timeline, "launched": actor.info["launched"],
                                    "joined": actor.info["joined"]})
        stop(self)

    Pool.__init__, Pool._launch, Pool._join, Pool.stop = (timed_init, timed_launch, timed_join,
                                                         timed_stop)
    try:
        yield notes
    finally:
        Pool.__init__, Pool._launch, Pool._join, Pool.stop = init, launch, join, stop


def split(actor: dict[str, Any], begin: float, end: float) -> dict[str, float]:
    """One actor's seconds of the sweep's wall time ``[begin, end]`` in each of
    :data:`SEGMENTS` (they add up to ``end - begin``)."""
    clamp = lambda t: min(max(t, begin), end)  # noqa: E731
    started = clamp(actor["process"])
    ready = clamp(actor["ready"])
    busy = [(clamp(a), clamp(b)) for a, b in sorted(actor["busy"])]
    first = busy[0][0] if busy else end
    last = busy[-1][1] if busy else end
    working = sum(b - a for a, b in busy)
    cpu = min(actor["sampling_cpu"], working)
    return dict(zip(SEGMENTS, (
        started - begin, ready - started, max(first - ready, 0.0), cpu, working - cpu,
        max(last - first - working, 0.0), end - max(last, ready),
    ), strict=True))


def summary(notes: dict[str, Any], begin: float, end: float) -> dict[str, float]:
    """Seconds of wall time x actors in each segment, summed over the actors, plus the
    writer threads' and the actors' processes' CPU seconds."""
    total = dict.fromkeys(SEGMENTS, 0.0)
    for actor in notes["actors"]:
        for name, seconds in split(actor, begin, end).items():
            total[name] += seconds
    total["writer threads' CPU"] = sum(a["writer_cpu"] for a in notes["actors"])
    total["actors' processes' CPU"] = sum(a["process_cpu"] for a in notes["actors"])
    total["sampling threads' CPU"] = sum(a["sampling_cpu"] for a in notes["actors"])
    total["driver stops the pool (tail part)"] = end - notes.get("stop", end)
    total["Ray's other processes' CPU"] = notes.get("helpers_cpu", 0.0)
    return total


def timeline_table(rows: list[dict]) -> str:
    """Markdown table: each measured sweep's wall time x actors split into segments
    (seconds, and share of wall x actors), from :func:`bench.packing.device_efficiency`."""
    names = [*SEGMENTS, "driver's CPU", "driver stops the pool (tail part)",
             "writer threads' CPU", "actors' processes' CPU", "Ray's other processes' CPU"]
    head = "| seconds (share of wall x actors) | " + " | ".join(r["preset"] + f", {r['jobs']} "
                                                           f"jobs, n = {r['n']}" for r in rows)
    lines = [head + " |", "|---|" + "---|" * len(rows)]
    for name in names:
        cells = [f"{r['timeline'][name]:.1f} "
                 f"({r['timeline'][name] / (r['wall'] * r['actors']):.2f})" for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
