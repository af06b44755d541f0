"""The baselines the paper argues against, run by the same engine for fair comparison.

- :class:`MultiStart`: plain activation maximisation from n random codes (Adam on
  -sum_j f_j / w_j), every final image returned whatever its activation.
- :class:`Langevin`: a PPGN-style sampler in code space (Nguyen et al., 2017): each
  step moves along the gradient of the activations, pulls towards the code prior
  N(0, init_std^2) and adds Gaussian noise; positions whose activations are above the
  band's lower edge (the threshold) are kept as samples.

Neither controls the upper edge, so their samples may leave the band; ``in_band`` in
the result says which did.
"""

from __future__ import annotations

import torch

from pipeline.sampler.fast import unit_rms
from pipeline.sampler.job import Evaluation, GradientPhase, JobState, Phase
from pipeline.sampler.seeds import Adam


def _drive(job: JobState, acts: torch.Tensor) -> torch.Tensor:
    """-sum_j f_j / w_j over all chains: lower is more activation."""
    return -(acts / job.width).sum()


class MultiStart(GradientPhase):
    """Activation maximisation from ``n`` independent random starts."""

    wants_normals = False

    def __init__(self, job: JobState) -> None:
        self.job = job
        self.codes = job.init_codes(job.problem.n)
        self.adam = Adam(self.codes, job.config.lr)

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Minus the width-normalised activations."""
        return _drive(self.job, acts)

    def advance(self, view: Evaluation) -> Phase | None:
        """Step until ``am_steps``; then every chain's image is a sample."""
        job = self.job
        steps = job.counts["sample_steps"]
        if steps >= job.config.am_steps:
            job.collector.add(
                self.codes, view.inputs, "multistart", steps, torch.arange(self.codes.shape[0])
            )
            job.finish("done")
            return None
        self.codes = job.restart(self.codes, ~view.finite)
        self.codes = job.project(self.adam.step(self.codes, view.grad))
        job.counts["sample_steps"] += 1
        return self


class Langevin(GradientPhase):
    """PPGN-style Langevin chains that keep positions above the band's lower edge."""

    wants_normals = False

    def __init__(self, job: JobState) -> None:
        self.job = job
        self.codes = job.init_codes(job.config.k)
        self.budget = job.config.max_sample_steps or 20 * -(-job.problem.n // job.config.k) + 200

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Minus the width-normalised activations (the prior enters in the move)."""
        return _drive(self.job, acts)

    def advance(self, view: Evaluation) -> Phase | None:
        """Keep chains above threshold, then c <- c - eta g - eta prior c / s + noise s xi."""
        job, cfg = self.job, self.job.config
        job.track_best(view.acts, view.finite)
        above = (view.acts >= job.lo).all(dim=1) & view.finite
        rows = above.nonzero().flatten()[: job.problem.n - len(job.collector)]
        job.counts["tried"] += int(self.codes.shape[0])
        job.collector.add(
            self.codes[rows], view.inputs[rows], "langevin", job.counts["sample_steps"], rows
        )
        if len(job.collector) >= job.problem.n or job.counts["sample_steps"] >= self.budget:
            job.finish("done" if len(job.collector) else "infeasible")
            return None
        std = job.init_std
        prior = cfg.langevin_prior * self.codes / std
        noise = cfg.langevin_noise * std * job.randn(*self.codes.shape)
        moved = self.codes - cfg.step_size * (unit_rms(view.grad) + prior) + noise
        self.codes = job.restart(job.project(moved), ~view.finite)
        job.counts["sample_steps"] += 1
        return self
