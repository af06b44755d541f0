"""Servers that tests start as subprocesses on 127.0.0.1 (an S3 or GCS emulator): started,
waited for with a deadline, and stopped by their PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serve(command: list[str], url: str, log: Path, timeout: float = 30) -> Iterator[None]:
    """Run ``command`` until the block ends; enter once ``url`` answers (any HTTP status).

    Its output goes to ``log``; a server that exits or does not answer within ``timeout``
    seconds fails the test with the log's end. Stopped by SIGTERM to its PID (SIGKILL after
    10 s)."""
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except urllib.error.HTTPError:  # it answers
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {log.read_text()[-500:]}"
                                       ) from None
                time.sleep(0.1)
        yield
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
