"""A dead or silent Ray head is the environment's fault (exit 1), not a bad setting (exit 2)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.runner import cluster
from tests.conftest import TOY
from tests.local_cluster import ROOT, free_ports


def sweep(address: str, folder: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline.sweep", *TOY, f"output.dir={folder / 'out'}",
               f"hydra.run.dir={folder / 'hydra'}", f"cluster.address={address}",
               "cluster.connect_timeout=1"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_refusing_and_silent_heads_are_environment_faults(tmp_path: Path) -> None:
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    with silent:
        cases = {
            "refused": (f"127.0.0.1:{free_ports(1)[0]}", "refused"),
            # ray://: Ray Client's form, not turned into the node's address as host:port is
            "silent": (f"ray://127.0.0.1:{silent.getsockname()[1]}", "no answer within 1 s"),
        }
        for name, (address, says) in cases.items():
            done = sweep(address, tmp_path / name)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 1, done.stderr[-3000:]
            assert "Traceback" not in done.stderr
            assert lines[-1].startswith("EnvironmentFault: no Ray cluster answers"), lines[-1]
            assert says in lines[-1] and "rerun" in lines[-1]
            assert not (tmp_path / name / "out").exists()  # nothing half-written


def test_a_server_that_is_not_a_ray_head_is_a_config_error() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        # ray://: Ray Client's form, which Ray's resolution does not turn into the node's address
        address = f"ray://127.0.0.1:{server.getsockname()[1]}"

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(64)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(ConfigError, match="answers but is not a Ray head"):
            cluster.probe(address, 5)
        thread.join(5)
    with pytest.raises(EnvironmentFault, match="refused"):
        cluster.probe(address, 1)  # the server is gone now


@pytest.mark.parametrize(("args", "code", "says"), [
    (["ray://127.0.0.1", "2", "1"], 2, "ConfigError: cluster.address must look like host:port"),
    (["127.0.0.1:1"], 2, "ConfigError: usage: python -m pipeline.runner.join"),
    ([f"ray://127.0.0.1:{free_ports(1)[0]}", "2", "1"], 1, "EnvironmentFault: no Ray cluster"),
])
def test_node_wait_says_whose_fault_in_one_line(args: list[str], code: int, says: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline.runner.join", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == code
    assert done.stderr.strip().splitlines()[-1].startswith(says), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "RuntimeWarning" not in done.stderr
