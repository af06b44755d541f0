"""Run sweep jobs on Ray: actors hold the models once and sample packed batches of jobs.

Moves jobs to actors and results to the store; knows nothing of Hydra.
"""

from pipeline.runner.actor import Outcome, Worker
from pipeline.runner.cluster import ClusterSettings, actor_shape, connect
from pipeline.runner.job import BandSpec, JobSpec, NeuronRef
from pipeline.runner.pool import Pool
from pipeline.runner.progress import SweepProgress

__all__ = [
    "BandSpec",
    "ClusterSettings",
    "JobSpec",
    "NeuronRef",
    "Outcome",
    "Pool",
    "SweepProgress",
    "Worker",
    "actor_shape",
    "connect",
]
