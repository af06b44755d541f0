"""Install and run as users expect: the ``inverse-set`` console command from an installed
package, and Ctrl-C / SIGTERM on a running sweep (real subprocesses, a real local Ray)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from bench.atlas import synthetic_dataset
from pipeline.store import read_jobs
from pipeline.sweep.interrupt import Interrupted, counted

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^interrupted: (\d+) of (\d+) jobs done; rerun the same command to resume$")


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed copy only
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with this checkout installed (editable, as ``make install``
    does) on top of the project's dependencies; returns its ``bin`` folder."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                "-q", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(ROOT)],
               venv, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin"


def test_console_command_runs_the_hydra_apps(installed: Path, tmp_path: Path,
                                             toy_overrides: list[str]) -> None:
    meta = run([str(installed / "python"), "-c", "import importlib.metadata as m; "
                "print(m.metadata('inverse-set-pipeline')['Requires-Python'])"], tmp_path)
    assert set(meta.stdout.strip().split(",")) == {">=3.11", "<3.14"}, meta.stderr
    dataset = synthetic_dataset(tmp_path / "dataset", 2, 2, 4, size=8)
    atlas = run([str(installed / "inverse-set"), "atlas", f"dataset={dataset}",
                 f"out={tmp_path / 'atlas'}", "figure=false", "workers=1"], tmp_path)
    assert atlas.returncode == 0, atlas.stderr
    assert atlas.stdout.strip() == str(tmp_path / "atlas" / "index.html")
    listed = run([str(installed / "inverse-set"), "sweep", "--dry-run", *toy_overrides],
                 tmp_path)
    assert listed.returncode == 0, listed.stderr
    same = run([str(installed / "python"), "-m", "pipeline.sweep", "--dry-run", *toy_overrides],
               tmp_path)
    jobs = listed.stdout.splitlines()
    assert jobs and listed.stdout == same.stdout and f"{len(jobs)} jobs" in listed.stderr
    bad = run([str(installed / "inverse-set"), "swep"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("ConfigError: unknown command 'swep'")
    wrong = run([str(installed / "inverse-set"), "atlas", f"dataset={tmp_path}"], tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.startswith("ConfigError: ")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_sweep_prints_one_line_and_resumes(
    ray_session: str, toy_overrides: list[str], tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "out"
    extra = ["neurons.select=[{layer: null, units: [0, 1, 2, 3]}]", "sampler.n=16",
             "bands=ladder", "bands.start=0", "bands.stop=1", "bands.count=6",
             "cluster.jobs_per_batch=1"]
    command = [sys.executable, "-m", "pipeline.cli", "sweep", *toy_overrides, *extra,
               f"output.dir={out}", f"cluster.address={ray_session}",
               f"hydra.run.dir={tmp_path / 'hydra'}"]
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while driver.poll() is None and time.monotonic() < deadline:
            if out.is_dir() and any((out / "jobs").glob("*.parquet")):
                break
            time.sleep(0.02)
        os.kill(driver.pid, signum)
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == code, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    match = LINE.match(err.strip().splitlines()[-1])
    assert match, err[-3000:]
    done, total = int(match[1]), int(match[2])
    assert total == 24 and 1 <= done < total
    assert len(read_jobs(out)) == done == len(list((out / "jobs").glob("*.parquet")))


def _raised_in_extension(cause: BaseException) -> None:
    """What a C extension (Ray's ``wait``) raises when a signal handler raised inside it."""
    try:
        raise cause
    except BaseException as err:
        raise SystemError("returned a result with an exception set") from err


@pytest.mark.parametrize(("cause", "code"), [(KeyboardInterrupt(), 130),
                                             (Interrupted(signal.SIGTERM), 143),
                                             (ValueError("a bug"), None)])
def test_interrupt_counts_jobs_even_inside_an_extension(cause: BaseException,
                                                        code: int | None) -> None:
    with pytest.raises(Interrupted if code else type(cause)) as info:
        with counted(24, lambda: 5):
            raise cause
    if code:
        assert info.value.code == code and LINE.match(info.value.line())[1] == "5"
    with pytest.raises(Interrupted if code else SystemError) as info:
        with counted(24, lambda: 7):
            _raised_in_extension(cause)
    if code:
        assert info.value.code == code and info.value.done == 7
