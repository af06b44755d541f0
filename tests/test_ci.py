"""``.ci/run``: make test with its own empty weight cache, removed at exit; failures fail."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A stand-in for make: reports the cache folder it was given and whether it was empty.
FAKE_MAKE = """#!/usr/bin/env bash
echo "$* cache=$INVERSE_SET_CACHE files=$(ls -A "$INVERSE_SET_CACHE" | wc -l)"
touch "$INVERSE_SET_CACHE/weights.bin"
exit {code}
"""


@pytest.mark.parametrize("code", [0, 2, 5])
def test_ci_runs_make_test_with_an_empty_cache_removed_at_exit(tmp_path: Path, code: int) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE.format(code=code))
    (bin_dir / "make").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "INVERSE_SET_CACHE": str(tmp_path / "warm"), "TMPDIR": str(tmp_path)}
    done = subprocess.run([str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode == 0) == (code == 0), done.stderr
    target, cache, files = done.stdout.split()
    assert target == "test" and files == "files=0"
    cache_dir = Path(cache.removeprefix("cache="))
    assert cache_dir.parent == tmp_path and cache_dir != tmp_path / "warm"
    assert not cache_dir.exists()  # removed at exit, with what the run put there
