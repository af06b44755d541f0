"""The fast sampling phase (paper sections 3.3-3.4, eq. 6 and 10), with remedies.

Starting from the seeds with the seed phase's lambda* and mu* frozen, every iteration
takes ONE gradient step of L_sample = -gamma [D_within(C) + D_cross(C, A)] + penalty,
where A is every sample accepted so far (the cross term in O(K) form), and every chain
whose position is inside every band yields a sample and becomes that chain's anchor.

Remedies for the paper's weaknesses (edge-hugging, near-duplicates), all optional
(``SamplerConfig.paper()`` turns them off):
- acceptance only ``margin`` band widths inside each edge, and the frozen Lagrangian's
  slack box is the middle ``sample_shrink`` of the band, so chains are pulled inwards;
- a step size per chain: grown on success, halved on failure, when the chain also
  returns halfway to its last feasible point;
- a random component in each move (``noise``), which spreads chains inside the band;
- a minimum spacing in E-space between accepted samples.
"""

from __future__ import annotations

import torch

from pipeline.sampler.diversity import mean_pairwise_distance
from pipeline.sampler.job import Evaluation, GradientPhase, JobState, Phase
from pipeline.sampler.lagrangian import AugmentedLagrangian, in_band

MAX_STEP_GROWTH = 20.0


def unit_rms(grad: torch.Tensor) -> torch.Tensor:
    """Scale each row to unit root-mean-square (rows of zeros stay zero)."""
    rms = grad.pow(2).mean(dim=1, keepdim=True).sqrt()
    return grad / rms.clamp(min=1e-20)


class FastPhase(GradientPhase):
    """Chains that walk the feasible region, yielding a sample at every feasible stop."""

    def __init__(
        self,
        job: JobState,
        seeds: torch.Tensor,
        anchored: torch.Tensor,
        seed_lagrangian: AugmentedLagrangian,
    ) -> None:
        cfg = job.config
        self.job = job
        self.codes = seeds.clone()
        self.anchor = seeds.clone()
        self.anchored = anchored.clone()
        self.lagrangian = seed_lagrangian.frozen(job.lo, job.hi, cfg.sample_shrink)
        self.step = torch.full((seeds.shape[0],), cfg.step_size, device=seeds.device)
        assert job.accepted is not None
        self.spacing = cfg.spacing * spread(job.accepted.feats)
        self.grad_scale = 0.0
        self.normals: list[torch.Tensor] = []
        self.budget = cfg.max_sample_steps or 20 * -(-job.problem.n // seeds.shape[0]) + 200

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """-gamma [D_within + D_cross to accepted samples] (normalised) + frozen penalty."""
        job = self.job
        value = -job.within_term(codes, feats) + self.lagrangian.penalty(acts)
        if job.config.diversity != "none" and job.accepted is not None and len(job.accepted):
            points, scale = job.diversity(codes, feats)
            cross = job.accepted.cross(points) / (points.shape[0] * len(job.accepted) * scale)
            value = value - job.config.diversity_weight * cross
        return value

    @property
    def wants_normals(self) -> bool:
        """Random moves are projected off the constraint normals d f_j / d c, computed
        every ``normals_every`` steps (in between, the last ones are reused)."""
        cfg = self.job.config
        if not (cfg.noise and cfg.tangent):
            return False
        return not self.normals or self.job.counts["sample_steps"] % cfg.normals_every == 0

    def advance(self, view: Evaluation) -> Phase | None:
        """Accept feasible, well-spaced chains; stop at n samples or budget; else move."""
        job, cfg = self.job, self.job.config
        inside = in_band(view.acts, job.lo, job.hi, cfg.margin) & view.finite
        points = self.codes if cfg.diversity == "code" else view.feats
        rows = self._spaced(inside, points).nonzero().flatten()
        rows = rows[: job.problem.n - len(job.collector)]
        job.counts["tried"] += int(self.codes.shape[0])
        step = job.counts["sample_steps"]
        job.collector.add(self.codes[rows], view.inputs[rows], "sample", step, rows)
        assert job.accepted is not None
        job.accepted.add(points[rows])
        self.anchor[rows] = self.codes[rows]
        self.anchored[rows] = True
        if len(job.collector) >= job.problem.n or step >= self.budget:
            job.finish("done")
            return None
        moving = torch.ones_like(inside)
        bad = ~view.finite
        if bool(bad.any()):  # non-finite activations: back to the anchor, smaller steps
            job.counts["reset"] += int(bad.sum())
            self.codes = torch.where(bad[:, None], self.anchor, self.codes)
            self.step = torch.where(bad, self.step * cfg.step_shrink, self.step)
            moving = view.finite.clone()
        if cfg.adaptive:
            back = ~inside & self.anchored & view.finite
            self.step = torch.where(inside, self.step * cfg.step_grow, self.step)
            self.step = torch.where(back, self.step * cfg.step_shrink, self.step)
            self.step = self.step.clamp(max=cfg.step_size * MAX_STEP_GROWTH)
            halfway = self.anchor + 0.5 * (self.codes - self.anchor)
            self.codes = torch.where(back[:, None], halfway, self.codes)
            moving = moving & ~back
        self.move(view, moving)
        return self

    def move(self, view: Evaluation, moving: torch.Tensor) -> None:
        """One step of each moving chain along -grad plus a random move in the tangent space
        of the band constraints; count it. The gradient is divided by the largest RMS it has
        had in this job, so it never exceeds unit size and shrinks where G saturates
        instead of pushing codes outwards forever."""
        job, cfg = self.job, self.job.config
        self.grad_scale = max(self.grad_scale, float(view.grad.pow(2).mean().sqrt()))
        direction = view.grad / max(self.grad_scale, 1e-20)
        if cfg.noise:
            noise = job.randn(*view.grad.shape)
            if view.normals:
                self.normals = view.normals
            if self.normals:
                noise = unit_rms(tangent(noise, self.normals))
            direction = direction + cfg.noise * noise
        stepped = job.project(self.codes - self.step[:, None] * direction)
        self.codes = torch.where(moving[:, None], stepped, self.codes)
        job.counts["sample_steps"] += 1

    def _spaced(self, inside: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Among in-band chains, those at least ``spacing`` from every accepted sample and
        from each other (greedy, in chain order)."""
        if self.spacing <= 0:
            return inside
        assert self.job.accepted is not None
        candidates = (inside & (self.job.accepted.nearest(points) >= self.spacing)).nonzero()
        candidates = candidates.flatten().tolist()
        close = torch.cdist(points[candidates], points[candidates]) < self.spacing
        chosen: list[int] = []
        for a in range(len(candidates)):
            if not any(bool(close[a, b]) for b in chosen):
                chosen.append(a)
        mask = torch.zeros_like(inside)
        mask[[candidates[a] for a in chosen]] = True
        return mask


def spread(points: torch.Tensor) -> float:
    """The scale spacing is measured in: the seeds' mean pairwise distance, or their RMS
    norm when the seeds coincide."""
    scale = mean_pairwise_distance(points)
    return scale if scale > 0 else float(points.pow(2).sum(dim=1).mean().sqrt())


def tangent(noise: torch.Tensor, normals: list[torch.Tensor]) -> torch.Tensor:
    """Remove from each row of ``noise`` its components along that chain's normals."""
    basis: list[torch.Tensor] = []
    for normal in normals:
        v = normal
        for b in basis:
            v = v - (v * b).sum(dim=1, keepdim=True) * b
        basis.append(v / v.norm(dim=1, keepdim=True).clamp(min=1e-20))
    for b in basis:
        noise = noise - (noise * b).sum(dim=1, keepdim=True) * b
    return noise
