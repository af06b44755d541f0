"""What a sampling actor imports: the sampler and the shard writer, not the readers.

A Ray actor of a sweep imports :mod:`pipeline.runner.actor` in a fresh process (after
Ray), and pays for every module it pulls in on every actor's start: the dataset readers
(``pyarrow.dataset``, which imports pandas), the config system, the atlas and
torchvision are not needed there; nor, once the models are loaded, torchvision and what it
pulls in (``torch._dynamo``, sympy: seconds of CPU per actor) for the presets on MobileNetV2
(``pipeline.zoo.mobilenet`` builds it from ``torch.nn``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOT_NEEDED = ("pyarrow.dataset", "pandas", "hydra", "omegaconf", "pipeline.atlas", "torchvision",
              "pipeline.zoo", "ray.autoscaler.sdk")


def _imported(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a new Python process has imported after running ``code``."""
    code += f"; print(' '.join(m for m in {modules!r} if m in sys.modules) or 'none')"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=root, timeout=300, check=True)
    return out.stdout.split()


def test_a_sampling_actor_imports_neither_the_readers_nor_the_configs() -> None:
    assert _imported("import sys, ray; import pipeline.runner.actor", NOT_NEEDED) == ["none"]


def test_a_faces_actor_loads_its_models_without_torchvision() -> None:
    code = ("import sys, ray, torch; import pipeline.runner.actor; "
            "from pipeline.runner.models import Models; "
            "Models({'preset': {'name': 'faces', 'options': {'size': 64}}}, torch.device('cpu'))")
    assert _imported(code, ("torchvision", "torch._dynamo", "sympy")) == ["none"]

