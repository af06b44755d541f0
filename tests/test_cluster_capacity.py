"""Actors sized from free resources, waiting for a node with a deadline, joining checks: on a
real local Ray cluster (tests/local_cluster.py), driven from a child process so that this
process's own Ray session (if another test started one) is left alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from tests.local_cluster import ROOT, LocalCluster

# Child-process prologue: join the cluster at sys.argv[1]; report() prints one JSON line.
PROLOGUE = """
import json, sys, ray
from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.runner import cluster
ray.init(address=sys.argv[1], logging_level="ERROR")
def report(**values):
    print(json.dumps(values), flush=True)
def error(call):
    try:
        return repr(call())
    except (ConfigError, EnvironmentFault) as err:
        return f"{type(err).__name__}: {err}"
"""


@pytest.fixture(scope="module")
def head() -> Iterator[LocalCluster]:
    """A one-node cluster: a head with 2 CPUs and no GPU (no test changes it)."""
    with LocalCluster(cpus=2, dashboard=False) as local:
        yield local


def child(address: str, body: str) -> subprocess.Popen:
    script = PROLOGUE + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", script, address], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def lines(process: subprocess.Popen, timeout: float = 120) -> list[dict]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_capacity_counts_free_resources_not_totals(head: LocalCluster) -> None:
    [seen] = lines(child(head.address, """
        free = [cluster.capacity(1, 0)]
        @ray.remote(num_cpus=1)
        class Holder:
            def ready(self):
                return True
        holder = Holder.remote()
        ray.get(holder.ready.remote())          # another job's actor holds one CPU
        free.append(cluster.capacity(1, 0))
        shape = cluster.actor_shape(cluster.ClusterSettings(actors=4), jobs=10)
        other = Holder.remote()
        ray.get(other.ready.remote())           # now every CPU is held
        report(free=free, two_cpu=cluster.capacity(2, 0), shape=shape,
               busy=error(lambda: cluster.wait_for_capacity(1, 0, 0)),
               no_gpu=error(lambda: cluster.wait_for_capacity(1, 1, 0)))
    """))
    assert seen["free"] == [2, 1]
    assert seen["two_cpu"] == 0
    assert seen["shape"] == [1, 1.0, 0.0]  # cluster.actors=4 lowered to what is free
    # held by other work: the environment, not the settings
    assert seen["busy"].startswith("EnvironmentFault: the Ray cluster (2 CPUs, 0 GPUs) has no "
                                   "free resources"), seen["busy"]
    # no node could ever hold it: the settings
    assert seen["no_gpu"].startswith("ConfigError: no node of the Ray cluster can hold"), seen


def test_gpu_actor_waits_for_a_gpu_node_to_join() -> None:
    with LocalCluster(cpus=1, dashboard=False) as local:
        waits_for_a_gpu_node(local)


def waits_for_a_gpu_node(head: LocalCluster) -> None:
    """A child waits for a GPU actor's room; a node with a (pretend) GPU joins meanwhile."""
    process = child(head.address, """
        report(before=cluster.capacity(1, 1))
        fits = cluster.wait_for_capacity(1, 1, 90)   # like an autoscaler adding a GPU node
        report(after=fits, total=ray.cluster_resources().get("GPU"))
        report(late=error(lambda: cluster.wait_for_capacity(1, 2, 1)))
    """)
    first = json.loads(process.stdout.readline())
    assert first == {"before": 0}
    head.add_node(cpus=1, gpus=1)
    seen = lines(process)
    assert seen[0] == {"after": 1, "total": 1.0}
    assert seen[1]["late"].startswith("ConfigError: no node of the Ray cluster can hold an actor "
                                      "with cluster.num_cpus=1 and cluster.gpus_per_actor=2")


def test_wait_for_nodes_checks_that_workers_joined(head: LocalCluster) -> None:
    nodes = len(head.nodes)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.runner.join", head.address, str(nodes), "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{nodes} Ray nodes joined" in done.stdout
    late = subprocess.run(
        [sys.executable, "-m", "pipeline.runner.join", head.address, str(nodes + 1), "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert late.returncode == 1
    assert f"EnvironmentFault: only {nodes} of {nodes + 1} Ray nodes joined" in late.stderr
