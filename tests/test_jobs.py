"""Cluster submission files (jobs/) and the command line: syntax, real config keys, dry runs."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import ray
import yaml

from pipeline.sweep import compose, dry_run

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "jobs"
SCRIPTS = sorted(JOBS.glob("*.sh")) + sorted(JOBS.glob("*.sbatch"))
SWEEP = "python -m pipeline.sweep"


def sweep_overrides(text: str) -> list[str]:
    """The Hydra overrides of the ``python -m pipeline.sweep`` command in a file."""
    text = text.replace("\\\n", " ").replace('"$PYTHON" -m', "python -m")
    line = next(line for line in text.splitlines() if SWEEP in line)
    tokens = shlex.split(line.split(SWEEP, 1)[1], comments=True)
    overrides = [t for t in tokens if "=" in t and not t.startswith("$")]
    # shell variables stand for values the cluster supplies: any string does for composing
    return [re.sub(r"\$\{?\w+\}?", "x", t) for t in overrides]


def test_scripts_parse_and_name_the_sweep() -> None:
    assert {p.name for p in SCRIPTS} == {"submit.sh", "slurm.sbatch"}
    for script in SCRIPTS:
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert SWEEP in script.read_text().replace('"$PYTHON" -m', "python -m")


def test_runtime_env_pins_match_the_project() -> None:
    env = yaml.safe_load((JOBS / "runtime_env.yaml").read_text())
    assert set(env) <= {"pip", "env_vars", "excludes", "working_dir", "py_modules", "conda"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert env["pip"] and set(env["pip"]) <= set(project)
    assert ".venv" in env["excludes"]


def test_rayjob_manifest_is_a_rayjob_for_this_ray() -> None:
    manifest = yaml.safe_load((JOBS / "rayjob.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayJob")
    spec = manifest["spec"]
    assert spec["rayClusterSpec"]["rayVersion"] == ray.__version__
    assert SWEEP in spec["entrypoint"]
    yaml.safe_load(spec["runtimeEnvYAML"])


@pytest.mark.parametrize("name", ["submit.sh", "slurm.sbatch", "rayjob.yaml"])
def test_submitted_commands_use_real_config_keys(name: str, toy_overrides: list[str]) -> None:
    text = (JOBS / name).read_text()
    if name.endswith(".yaml"):
        text = SWEEP + " " + yaml.safe_load(text)["spec"]["entrypoint"].split(SWEEP, 1)[1]
    overrides = sweep_overrides(text)
    assert any(o.startswith("cluster=") for o in overrides)
    cfg = compose(overrides)  # Hydra rejects keys that conf/ does not have
    assert cfg.cluster.address  # joins the cluster it runs on
    # the same command with the toy preset expands into jobs (a dry run: nothing starts)
    toy = [o for o in overrides if not o.startswith(("preset=", "bands="))]
    out = io.StringIO()
    jobs = dry_run(compose([*toy, *toy_overrides]), out=out)
    assert len(out.getvalue().splitlines()) == len(jobs) == 4


def test_dry_run_flag_with_multirun_over_sampler_settings(
    tmp_path: Path, toy_overrides: list[str]
) -> None:
    command = [sys.executable, "-m", "pipeline.sweep", "--dry-run", "-m", *toy_overrides,
               "sampler.k=4,5", f"hydra.sweep.dir={tmp_path}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(jobs) == 8 and len({job["job_id"] for job in jobs}) == 8
    assert {job["target"] for job in jobs} == {"fc:0", "fc:1"}


def test_bad_config_exits_with_one_line(tmp_path: Path, toy_overrides: list[str]) -> None:
    command = [sys.executable, "-m", "pipeline.sweep", *toy_overrides, "bands.values=[[3, 1]]",
               f"hydra.run.dir={tmp_path}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "ConfigError" in line]
    assert len(errors) == 1 and "lo < hi" in errors[0]
