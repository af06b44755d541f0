"""The result of a sampling job and the collector that builds it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class SampleSet:
    """Samples of an inverse set: ``inputs = G(codes)``, verified activations and stats.

    ``activations`` has one column per constraint and comes from re-evaluating the
    stored ``inputs`` after sampling; ``in_band`` says which rows lie inside every band
    (all of them for the inverse-set methods; baselines keep their misses). ``features``
    are E of the stored inputs. ``phase`` says where a sample came from (``prior``: an
    exact prior draw in band, ``ess``: a slice-sampling transition, ``bounce``: a reflective
    elliptical HMC transition; ``seed``, ``sample``,
    ``joint``, ``multistart``, ``langevin`` for the other methods), ``step`` the
    iteration of that phase and ``chain`` the chain. ``feasible`` is False when the band
    could not be reached within the budget; then ``stats["best_activations"]`` holds the
    closest activations reached. :attr:`status` is ``done``, ``partial`` or
    ``infeasible``; ``stats`` also holds the costs and, for ``ess``, the diagnostics.
    """

    codes: torch.Tensor
    inputs: torch.Tensor
    activations: torch.Tensor
    features: torch.Tensor
    phase: list[str]
    step: torch.Tensor
    chain: torch.Tensor
    in_band: torch.Tensor
    bands: list[tuple[float, float]]
    feasible: bool
    stats: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    def __len__(self) -> int:
        return self.codes.shape[0]

    @property
    def status(self) -> str:
        """``done`` (n samples), ``partial`` (fewer: the budget ended) or ``infeasible``."""
        return self.stats.get("status", "done" if self.feasible else "infeasible")

    def select(self, mask: torch.Tensor) -> SampleSet:
        """The samples where ``mask`` (bool, one per sample) is True; stats are kept as is."""
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.shape != (len(self),):
            raise ValueError(f"mask must have shape ({len(self)},), got {tuple(mask.shape)}")
        keep = mask.tolist()
        rows = {
            name: getattr(self, name)[mask]
            for name in ("codes", "inputs", "activations", "step", "chain", "in_band")
        }
        features = self.features[mask] if self.features.shape[0] == len(self) else self.features
        phase = [p for p, k in zip(self.phase, keep, strict=True) if k]
        return dataclasses.replace(self, **rows, features=features, phase=phase,
                                   stats=dict(self.stats))

    def __repr__(self) -> str:
        keys = ("seed_steps", "sample_steps", "feasibility", "redundancy", "edge_share")
        shown = ", ".join(f"{k}={self.stats.get(k)}" for k in keys if k in self.stats)
        return f"SampleSet(n={len(self)}, bands={self.bands}, feasible={self.feasible}, {shown})"


class Collector:
    """Accumulates accepted samples (on the CPU) until the job is finished."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {k: [] for k in ("codes", "inputs", "phase", "step", "chain")}
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(
        self,
        codes: torch.Tensor,
        inputs: torch.Tensor,
        phase: str | Sequence[str],
        step: int,
        chains: torch.Tensor | Sequence[int],
    ) -> None:
        """Record accepted rows: their codes, stored inputs, phase (one for all rows, or one
        per row), step and chain indices."""
        if codes.shape[0] == 0:
            return
        self.rows["codes"].append(_host(codes))
        self.rows["inputs"].append(_host(inputs))
        self.rows["phase"].extend([phase] * codes.shape[0] if isinstance(phase, str) else phase)
        self.rows["step"].extend([step] * codes.shape[0])
        self.rows["chain"].extend(chains.tolist() if isinstance(chains, torch.Tensor) else chains)
        self.count += codes.shape[0]

    def tensors(self, limit: int, code_dim: int, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """The first ``limit`` rows as tensors (empty tensors of the right shape if none)."""
        if not self.rows["codes"]:
            return {
                "codes": torch.zeros(0, code_dim),
                "inputs": torch.zeros(0, *input_shape),
                "phase": [],
                "step": torch.zeros(0, dtype=torch.long),
                "chain": torch.zeros(0, dtype=torch.long),
            }
        out: dict[str, Any] = {k: torch.cat(self.rows[k])[:limit] for k in ("codes", "inputs")}
        for k in ("step", "chain"):
            out[k] = torch.tensor(self.rows[k][:limit], dtype=torch.long)
        out["phase"] = self.rows["phase"][:limit]
        return out


def _host(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 on the CPU, without autograd history (itself if it is already)."""
    plain = x.device.type == "cpu" and x.dtype == torch.float32 and not x.requires_grad
    return x if plain else x.detach().cpu().float()
