"""A real multi-node Ray cluster on this machine for tests: a head and worker nodes, each a
``ray start --block`` process of its own with its own ports and temp folder, all on
127.0.0.1, stopped by PID (never ``ray stop``, which would stop every Ray on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = [sys.executable, "-m", "ray.scripts.scripts"]
ROOT = Path(__file__).resolve().parents[1]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _node_pids(session: int, folder: str) -> list[int]:
    """A node's processes: those in the session of its ``ray start`` (raylet, agents, and the
    workers, which take process groups of their own) and any whose command line names its
    temp ``folder``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[3]) == session or folder.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


@dataclass
class Node:
    """One ``ray start --block`` process and its temp folder."""

    process: subprocess.Popen
    temp: str
    log: Path

    def kill(self) -> None:
        """SIGKILL every process of the node (as a machine that dies would lose them)."""
        for pid in _node_pids(self.process.pid, self.temp):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
        self.process.wait(timeout=30)


@dataclass
class LocalCluster:
    """A head on free ports; ``add_node`` joins worker nodes. Use as a context manager."""

    cpus: int = 1
    dashboard: bool = True
    nodes: list[Node] = field(default_factory=list)
    address: str = ""
    dashboard_url: str = ""

    def _start(self, args: list[str], name: str, timeout: float) -> Node:
        temp = tempfile.mkdtemp(prefix=f"ray{name}", dir="/tmp")
        node_ports = free_ports(9)
        ports = [
            f"--node-manager-port={node_ports[0]}", f"--object-manager-port={node_ports[1]}",
            f"--min-worker-port={node_ports[2]}", f"--max-worker-port={node_ports[2] + 40}",
            f"--dashboard-agent-listen-port={node_ports[3]}",
            f"--dashboard-agent-grpc-port={node_ports[4]}",
            f"--runtime-env-agent-port={node_ports[5]}", f"--metrics-export-port={node_ports[6]}",
        ]
        log = Path(temp) / "start.log"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
        with log.open("w") as out:
            process = subprocess.Popen(
                [*RAY, "start", "--block", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}",
                 *ports, *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                start_new_session=True,
            )
        node = Node(process, temp, log)
        self.nodes.append(node)
        self._wait_started(node, timeout)
        return node

    def _wait_started(self, node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in node.log.read_text():
            if node.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{node.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def start(self, timeout: float = 120) -> LocalCluster:
        """Start the head (with the job dashboard when ``dashboard``)."""
        port, dash, client = free_ports(3)
        self.address = f"127.0.0.1:{port}"
        self.dashboard_url = f"http://127.0.0.1:{dash}"
        extra = (["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                  f"--dashboard-port={dash}"] if self.dashboard else
                 ["--include-dashboard=false"])
        self._start(["--head", f"--port={port}", f"--num-cpus={self.cpus}",
                     f"--ray-client-server-port={client}", *extra], "head", timeout)
        return self

    def add_node(self, cpus: int = 1, gpus: int = 0, timeout: float = 120) -> Node:
        """Join a worker node with ``cpus`` CPUs and ``gpus`` (pretend) GPUs."""
        return self._start([f"--address={self.address}", f"--num-cpus={cpus}",
                            f"--num-gpus={gpus}"], f"node{len(self.nodes)}", timeout)

    def stop(self) -> None:
        """Kill every node (workers first) and remove their temp folders."""
        for node in reversed(self.nodes):
            node.kill()
            shutil.rmtree(node.temp, ignore_errors=True)
        self.nodes.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
