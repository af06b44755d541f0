"""The method: sampling inverse sets with an augmented Lagrangian and a fast feasible walk.

Framework-free apart from torch: knows nothing of Ray, Hydra or Parquet.
"""

from pipeline.sampler.config import Problem, SamplerConfig
from pipeline.sampler.engine import iter_problems, sample_problems
from pipeline.sampler.sampler import InverseSetSampler
from pipeline.sampler.sampleset import SampleSet

__all__ = [
    "InverseSetSampler",
    "Problem",
    "SampleSet",
    "SamplerConfig",
    "iter_problems",
    "sample_problems",
]
