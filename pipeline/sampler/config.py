"""Settings of the sampler and the description of one sampling problem."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pipeline.errors import ConfigError

METHODS = ("ess", "fast", "joint", "multistart", "langevin")
DIVERSITY = ("encoder", "code", "none")
PRECISIONS = ("float32", "bf16-seeds")
SUBSPACE = ("off", "on", "auto")
KERNELS = ("slice", "bounce")
SEED_STEPS = ("adam", "normal")


@dataclass
class SamplerConfig:
    """Every knob of the sampler, with defaults that work across models.

    ``method``: ``ess`` (default: sample the code prior restricted to the bands, see
    :mod:`pipeline.sampler.explore`), ``fast`` (the paper's fast sampler, with remedies),
    ``joint``, ``multistart``, ``langevin``. Exploration (``ess``): ``prior_tries`` prior
    draws per chain before it seeds, ``burn_in`` transitions not kept after a seed,
    ``thin`` (None: the integrated autocorrelation time), ``independence`` (mix exact
    prior draws into each transition where the bands hold >= 1% of the prior),
    ``projections`` random
    projections of E watched by the diagnostics, ``budget`` forward-equivalent evaluations
    of G per requested sample (a backward counts as two; seeds included): a job that spends
    it returns what it has, with status ``partial``. ``kernel``: the exploring chains'
    transition after the independence proposals: ``slice`` (elliptical slice sampling,
    forward only) or ``bounce`` (reflective elliptical HMC, :mod:`pipeline.sampler.bounce`:
    a backward at each midpoint out of band; initial step ``bounce_step``, adapted in
    burn-in; total time ``bounce_time`` per transition).

    Seed phase (augmented Lagrangian): ``lr`` (Adam step on codes), ``steps_per_outer``
    gradient steps per outer iteration, ``mu0`` and ``mu_growth`` for the penalty
    weight mu, ``seed_shrink`` (seeds aim at this middle fraction of the band),
    ``max_seed_steps``; ``seed_step`` (``ess``): ``adam``, or ``normal``: normalised gradient
    steps in the prior's normal coordinates z of length ``seed_step_size`` x sqrt(d)
    (:mod:`pipeline.sampler.normalstep`), which keep the coordinates the loss hardly
    depends on near their prior draw. Fast sampling phase: one gradient step per iteration of size
    ``step_size`` per chain, grown by ``step_grow`` on success and cut by
    ``step_shrink`` (back towards the last feasible point) on failure when
    ``adaptive``; ``noise`` (random move relative to the step, projected off the constraint
    normals when ``tangent``, recomputed every ``normals_every`` steps); ``margin`` (acceptance
    guard from each band edge, fraction of the width); ``spacing`` (minimum E-distance
    between accepted samples, fraction of the seeds' mean pairwise distance);
    ``sample_shrink`` (slack box of the frozen Lagrangian, middle fraction of the band).

    ``precision``: ``float32``, or ``bf16-seeds``: the seed phase's gradient steps run G, f
    and E under bf16 autocast (only in iterations whose gradient rows are all seed steps),
    while every band check that decides a seed or a sample reads a float32 forward pass.

    ``subspace`` (``ess`` with ``kernel="slice"``): ``off`` (elliptical slice sampling),
    ``on`` (the subspace-split kernel of :mod:`pipeline.sampler.subspace` for every
    exploring chain) or ``auto`` (it where no independence proposals are made, q-hat < 1%);
    ``subspace_rank`` gradients of the burn-in span its basis.
    """

    k: int = 10
    method: str = "ess"
    diversity: str = "encoder"
    diversity_weight: float = 1.0
    lr: float = 0.05
    steps_per_outer: int = 100
    max_seed_steps: int = 2000
    seed_step: str = "adam"
    seed_step_size: float = 0.05
    mu0: float = 10.0
    mu_growth: float = 10.0
    mu_max: float = 1e6
    seed_shrink: float = 0.5
    sample_shrink: float = 0.8
    margin: float = 0.02
    step_size: float = 0.05
    adaptive: bool = True
    step_grow: float = 1.5
    step_shrink: float = 0.5
    noise: float = 2.0
    tangent: bool = True
    normals_every: int = 4
    spacing: float = 0.1
    max_sample_steps: int | None = None
    quantize: bool = False
    init_std: float | None = None
    same_init: bool = False
    am_steps: int = 200
    langevin_prior: float = 1.0
    langevin_noise: float = 0.05
    verify_batch: int = 256
    prior_tries: int = 10
    burn_in: int = 10
    thin: int | None = None
    projections: int = 3
    budget: float = 100.0
    independence: bool = True
    precision: str = "float32"
    kernel: str = "slice"
    bounce_step: float = 1.0
    bounce_time: float = math.pi / 2
    subspace: str = "off"
    subspace_rank: int = 4

    def __post_init__(self) -> None:
        for name, allowed in (("method", METHODS), ("diversity", DIVERSITY),
                              ("precision", PRECISIONS), ("kernel", KERNELS),
                              ("subspace", SUBSPACE), ("seed_step", SEED_STEPS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        self._check_subspace()
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"k (chains) must be a positive int, got {self.k!r}")
        for name in ("seed_shrink", "sample_shrink"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"{name} must be in (0, 1], got {value}")
        if self.burn_in < 0 or (self.thin is not None and self.thin < 1):
            raise ConfigError(
                f"burn_in must be >= 0 and thin >= 1 (or None), got {self.burn_in}, {self.thin}"
            )
        if not 0 <= self.margin < 0.5:
            raise ConfigError(f"margin must be in [0, 0.5), got {self.margin}")
        for name in (
            "lr",
            "step_size",
            "mu0",
            "steps_per_outer",
            "max_seed_steps",
            "normals_every",
            "prior_tries",
            "projections",
            "budget",
            "subspace_rank",
            "seed_step_size",
            "bounce_step",
            "bounce_time",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")

    def _check_subspace(self) -> None:
        """The subspace-split kernel refines slice sampling: it excludes ``kernel="bounce"``."""
        if self.subspace != "off" and self.kernel != "slice":
            raise ConfigError(
                f"subspace={self.subspace!r} refines kernel='slice', got kernel={self.kernel!r}; "
                "set subspace='off' or kernel='slice'"
            )

    @classmethod
    def paper(cls, **overrides: Any) -> SamplerConfig:
        """The fast sampler as the paper describes it: fixed step, every feasible position
        taken, no margin, spacing, noise or return to the last feasible point."""
        literal = dict(
            method="fast", adaptive=False, noise=0.0, spacing=0.0, margin=0.0, sample_shrink=1.0
        )
        return cls(**{**literal, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SamplerConfig:
        """Build from a dict; unknown keys raise :class:`ConfigError` naming the valid ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown sampler settings {unknown}; valid: {sorted(known)}")
        return cls(**values)


Constraint = tuple[Callable[[torch.Tensor], torch.Tensor], float, float]


@dataclass
class Problem:
    """One sampling job: ``n`` samples inside every band ``(f_j, lo_j, hi_j)``, from ``seed``."""

    constraints: Sequence[Constraint]
    n: int
    seed: int = 0
    name: str | None = None
    bands: list[tuple[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        if not self.constraints:
            raise ConfigError("a problem needs at least one constraint (f, lo, hi)")
        bands = []
        for i, item in enumerate(self.constraints):
            if not (isinstance(item, (tuple, list)) and len(item) == 3 and callable(item[0])):
                raise ConfigError(f"constraint {i} must be a tuple (f, lo, hi) with f callable")
            lo, hi = item[1], item[2]
            if lo is None or hi is None:
                raise ConfigError(f"constraint {i}: both bounds are required, got [{lo}, {hi}]")
            lo, hi = float(lo), float(hi)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ConfigError(
                    f"constraint {i}: bounds must be finite numbers, got [{lo}, {hi}]; "
                    "for an open band use the neuron's observed range as the far bound"
                )
            if lo >= hi:
                raise ConfigError(
                    f"constraint {i}: lo must be below hi, got [{lo}, {hi}]; swap them"
                )
            bands.append((lo, hi))
        self.bands = bands
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"n must be a positive int, got {self.n!r}")
