"""The notebook-facing sampler: one problem, one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from pipeline.models.priors import Prior
from pipeline.models.transforms import RandomTransforms
from pipeline.sampler.config import Constraint, Problem, SamplerConfig
from pipeline.sampler.engine import ProgressCallback, sample_problems
from pipeline.sampler.sampleset import SampleSet


class InverseSetSampler:
    """Sample the inverse set {G(c) : lo_j <= f_j(G(c)) <= hi_j for all j}.

    ``generator`` is G (code -> input, with ``code_dim``), ``encoder`` is E (input ->
    features; diversity is measured there, ``None`` uses the inputs), ``constraints``
    a list of ``(f, lo, hi)`` (several give the intersection of inverse sets), ``k`` the
    number of chains; other keyword arguments are :class:`SamplerConfig` fields, e.g.
    ``method="joint"``, ``diversity="code"``. A plain callable G needs ``code_dim`` (and
    optionally ``prior``, default N(0, I)); they also override a module's own.
    """

    def __init__(
        self,
        generator: nn.Module | Callable[[torch.Tensor], torch.Tensor],
        encoder: Callable[[torch.Tensor], torch.Tensor] | None,
        constraints: Sequence[Constraint],
        k: int = 10,
        config: SamplerConfig | None = None,
        transform: RandomTransforms | None = None,
        code_dim: int | None = None,
        prior: Prior | None = None,
        **settings: Any,
    ) -> None:
        base = config.to_dict() if config is not None else {}
        self.config = SamplerConfig.from_dict({**base, "k": k, **settings})
        self.generator, self.encoder, self.transform = generator, encoder, transform
        self.code = {"code_dim": code_dim, "prior": prior}
        self.constraints = list(constraints)
        Problem(self.constraints, n=max(k, 1))  # validate the bands now

    def sample(self, n: int, seed: int = 0, progress: ProgressCallback | None = None) -> SampleSet:
        """Return a :class:`SampleSet` of ``n`` verified samples (fewer if the budget ends)."""
        problem = Problem(self.constraints, n=n, seed=seed)
        return sample_problems(
            self.generator, self.encoder, [problem], self.config, self.transform, progress,
            **self.code,
        )[0]
