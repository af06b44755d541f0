"""What a sampling actor imports: the sampler and the shard writer, not the readers.

A Ray actor of a sweep imports :mod:`pipeline.runner.actor` in a fresh process (after
Ray), and pays for every module it pulls in on every actor's start: the dataset readers
(``pyarrow.dataset``, which imports pandas), the config system, the atlas and
torchvision (``mnist``) are not needed there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOT_NEEDED = ("pyarrow.dataset", "pandas", "hydra", "omegaconf", "pipeline.atlas", "torchvision",
              "pipeline.zoo", "ray.autoscaler.sdk")


def test_a_sampling_actor_imports_neither_the_readers_nor_the_configs() -> None:
    code = ("import sys, ray; import pipeline.runner.actor; "
            f"print(' '.join(m for m in {NOT_NEEDED!r} if m in sys.modules) or 'none')")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=root, timeout=120, check=True)
    assert out.stdout.split() == ["none"]

