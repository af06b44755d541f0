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
    text = text.replace("\\\n", " ")
    text = re.sub(r'"\$(JOB_)?PYTHON" -m', "python -m", text)
    line = next(line for line in text.splitlines()
                if SWEEP in line and not line.lstrip().startswith("#"))
    tokens = shlex.split(line.split(SWEEP, 1)[1], comments=True)
    overrides = [t for t in tokens if "=" in t and not t.startswith("$")]
    # shell variables stand for values the cluster supplies: any string does for composing
    return [re.sub(r"\$\{?\w+\}?", "x", t) for t in overrides]


def test_scripts_parse_and_name_the_sweep() -> None:
    assert {p.name for p in SCRIPTS} == {"submit.sh", "slurm.sbatch"}
    for script in SCRIPTS:
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert SWEEP in re.sub(r'"\$(JOB_)?PYTHON" -m', "python -m", script.read_text())


def test_runtime_env_pins_match_the_project() -> None:
    env = yaml.safe_load((JOBS / "runtime_env.yaml").read_text())
    assert set(env) <= {"pip", "env_vars", "excludes", "working_dir", "py_modules", "conda"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert env["pip"] and set(env["pip"]) <= set(project)
    assert ".venv" in env["excludes"]


def rayjob() -> dict:
    """The RayJob document of jobs/rayjob.yaml (the file also defines its volume claim)."""
    documents = list(yaml.safe_load_all((JOBS / "rayjob.yaml").read_text()))
    [manifest] = [d for d in documents if d["kind"] == "RayJob"]
    return manifest


def test_rayjob_manifest_is_a_rayjob_for_this_ray() -> None:
    manifest = rayjob()
    assert manifest["apiVersion"] == "ray.io/v1"
    spec = manifest["spec"]
    assert spec["rayClusterSpec"]["rayVersion"] == ray.__version__
    assert SWEEP in spec["entrypoint"]
    yaml.safe_load(spec["runtimeEnvYAML"])


@pytest.mark.parametrize("name", ["submit.sh", "slurm.sbatch", "rayjob.yaml"])
def test_submitted_commands_use_real_config_keys(name: str, toy_overrides: list[str]) -> None:
    text = (JOBS / name).read_text()
    if name.endswith(".yaml"):
        text = SWEEP + " " + rayjob()["spec"]["entrypoint"].split(SWEEP, 1)[1]
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


def test_rayjob_shares_a_readwritemany_claim_and_dev_shm() -> None:
    documents = list(yaml.safe_load_all((JOBS / "rayjob.yaml").read_text()))
    [claim] = [d for d in documents if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod mounts it
    cluster = rayjob()["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        group["template"]["spec"] for group in cluster["workerGroupSpecs"]
    ]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        [container] = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == (
            claim["metadata"]["name"])
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
        assert container["image"].endswith(f"/inverse-set-pipeline:{version}")
    assert "/data/" in rayjob()["spec"]["entrypoint"]  # the dataset goes to the claim


def test_dockerfile_installs_exactly_the_pinned_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    low = re.search(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    assert re.search(rf"^FROM python:{re.escape(low)}[-\w.]*$", text, flags=re.M)
    # the pins come from pyproject.toml; any pin written in the Dockerfile must agree with it
    assert "COPY pyproject.toml" in text and "['project']['dependencies']" in text
    pinned = set(re.findall(r"[\w\-\[\]]+==[\w.]+", text))
    assert pinned <= set(project["dependencies"])
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "outputs", "cache"} <= set(ignored)
    assert (ROOT / "conf" / "config.yaml").is_file()  # `COPY . /app` brings conf/ along


def fake_python(folder: Path, log: Path, waits_for: int = 0) -> Path:
    """A stand-in for the project's Python: ``-c`` snippets run for real, every other
    command line is appended to ``log`` as JSON. ``-m pipeline.runner.join`` (the wait
    for nodes) returns once ``waits_for`` ``ray start`` lines are logged (at most 20 s)."""
    script = folder / "python"
    script.write_text(f"""#!{sys.executable}
import json, os, sys, time
args = sys.argv[1:]
if args[0] == "-c":
    os.execv({sys.executable!r}, [{sys.executable!r}, *args])
with open({str(log)!r}, "a") as out:
    out.write(json.dumps(args) + "\\n")
deadline = time.monotonic() + 20
while args[:2] == ["-m", "pipeline.runner.join"] and time.monotonic() < deadline:
    if open({str(log)!r}).read().count('"start"') >= {waits_for}:
        break
    time.sleep(0.1)
""")
    script.chmod(0o755)
    return script


def logged(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_submit_passes_options_and_overrides_through(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake_python(tmp_path, log)),
           "OUTPUT_DIR": "/shared/sweeps/faces", "RAY_ADDRESS": "http://head:8265"}
    select = "neurons.select=[{layer: null, units: [0, 1]}]"
    done = subprocess.run([str(JOBS / "submit.sh"), "--config-name", "demo", "sampler.n=5",
                           select, "--dry-run"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    [args] = logged(log)
    assert args[:5] == ["-m", "ray.scripts.scripts", "job", "submit", "--address"]
    assert args[5] == "http://head:8265"
    runtime_env = json.loads(args[args.index("--runtime-env-json") + 1])
    assert runtime_env["env_vars"]["INVERSE_SET_CACHE"] == "/shared/sweeps/cache"  # shared
    assert runtime_env["pip"] == yaml.safe_load((JOBS / "runtime_env.yaml").read_text())["pip"]
    command = args[args.index("--") + 1:]
    assert command[:3] == ["python", "-m", "pipeline.sweep"]
    assert command[3:6] == ["--config-name", "demo", "--dry-run"]  # options before overrides
    assert command[-2:] == ["sampler.n=5", select]  # last: they win over the defaults
    assert "cluster.cache_dir=/shared/sweeps/cache" in command
    # the command line as the cluster would run it: Hydra accepts it (a dry run of the toy)
    toy = [*command[3:], "preset=toy", "sampler.k=4", "hydra.output_subdir=null",
           f"hydra.run.dir={tmp_path}"]
    dry = subprocess.run([sys.executable, *command[1:3], *toy], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr[-2000:]
    jobs = [json.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    assert jobs and all(job["n"] == 5 for job in jobs)
    assert {job["target"] for job in jobs} == {"fc:0", "fc:1"}


def test_submit_without_output_dir_says_how(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake_python(tmp_path, tmp_path / "log"))}
    done = subprocess.run([str(JOBS / "submit.sh"), "preset=toy"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("ConfigError: OUTPUT_DIR is not set; set it to a folder")
    assert not (tmp_path / "log").exists()  # nothing submitted


def slurm(tmp_path: Path, job_id: str, *args: str, **env: str) -> list[list[str]]:
    """Run jobs/slurm.sbatch with stand-ins for srun and scontrol (two nodes) and the
    project's Python; the Python command lines it ran."""
    bin_dir = tmp_path / f"bin{job_id}"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/sh\nprintf 'node1\\nnode2\\n'\n")
    # srun: drop its options, run the command here
    (bin_dir / "srun").write_text(
        '#!/usr/bin/env bash\nwhile [[ "$1" == -* ]]; do [[ "$1" == -w ]] && shift; shift; done\n'
        'exec "$@"\n')
    for tool in ("scontrol", "srun"):
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / f"log{job_id}.jsonl"
    python = fake_python(bin_dir, log, waits_for=2)
    variables = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(python),
                 "SLURM_JOB_ID": job_id, "SLURM_JOB_NODELIST": "node[1-2]",
                 "SLURM_SUBMIT_DIR": str(tmp_path), **env}
    done = subprocess.run(["bash", str(JOBS / "slurm.sbatch"), *args], env=variables,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return logged(log)


def test_slurm_waits_for_every_node_and_resumes_in_one_folder(tmp_path: Path) -> None:
    runs = [slurm(tmp_path, job_id, "--config-name", "demo", "sampler.n=5", RAY_IFACE="lo")
            for job_id in ("101", "102")]
    for job_id, lines in zip(("101", "102"), runs, strict=True):
        starts = [a for a in lines if "start" in a]
        [wait] = [a for a in lines if a[:2] == ["-m", "pipeline.runner.join"]]
        [sweep] = [a for a in lines if a[:2] == ["-m", "pipeline.sweep"]]
        port = str(20000 + int(job_id))  # from the job id: not a fixed 6379
        # the sweep starts once the wait saw both nodes start (the wait blocks until then)
        assert len(starts) == 2 and lines.index(sweep) > max(map(lines.index, starts))
        assert wait == ["-m", "pipeline.runner.join", f"127.0.0.1:{port}", "2", "300"]
        head = next(a for a in starts if "--head" in a)
        assert "--node-ip-address=127.0.0.1" in head and f"--port={port}" in head  # RAY_IFACE
        assert sweep[2:4] == ["--config-name", "demo"] and sweep[-1] == "sampler.n=5"
        assert f"cluster.address=127.0.0.1:{port}" in sweep
    dirs = [next(a for a in run[-1] if a.startswith("output.dir=")) for run in runs]
    assert dirs[0] == dirs[1] == f"output.dir={tmp_path}/outputs/slurm"  # resubmission resumes
