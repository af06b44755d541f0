"""Sweeps: a Hydra config (conf/) -> jobs (neuron or intersection x band) -> Ray -> Parquet.

Command line::

    python -m pipeline.sweep [overrides]            # e.g. preset=toy sampler.n=20
    python -m pipeline.sweep --dry-run [overrides]  # print the expanded jobs, run nothing
    python -m pipeline.sweep -m sampler.k=5,10      # Hydra multirun over sampler settings

Notebook::

    from pipeline import sweep
    cfg = sweep.compose(["preset=toy", "sampler.n=20"])
    path = sweep.run(cfg)
"""

from pipeline.sweep.config import compose, sweep_hash, to_plain
from pipeline.sweep.expand import expand
from pipeline.sweep.run import dry_run, run

__all__ = ["compose", "dry_run", "expand", "run", "sweep_hash", "to_plain"]
