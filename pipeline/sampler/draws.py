"""Prior draws made now and mapped through the prior later, once for a whole batch.

A draw from the prior is a standard normal draw from the job's own stream of large draws
(``JobState.draws``: the CPU, or the job's GPU) mapped through
:meth:`~pipeline.models.priors.Prior.from_normal` (as
:func:`~pipeline.models.priors.draw_codes`). The normal draw is made where the sampler
asks for it, so every job's stream is consumed in the same order as before; the map,
coordinate-wise and the same for any batch layout, is applied by :func:`settle` to every
waiting draw of the batch's jobs in one call per prior (instead of one call per job).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from pipeline.sampler.job import JobState, row_index


class Draws:
    """A job's prior draws waiting for their map: which chains, their normal draws."""

    def __init__(self, job: JobState) -> None:
        self.job = job
        self.rows: list[int] = []
        self.normals: list[torch.Tensor] = []

    def __bool__(self) -> bool:
        return bool(self.rows)

    def add(self, rows: list[int]) -> None:
        """Draw for ``rows`` now (normal draws from the job's stream, as ``draw_codes``)."""
        self.rows += rows
        self.normals.append(self.job.randn(len(rows), self.job.code_dim))

    def place(self, codes: torch.Tensor, drawn: torch.Tensor) -> None:
        """Write the mapped draws ``drawn`` (in the order added) into their rows of
        ``codes``, in place, and forget them."""
        codes[row_index(self.rows, codes)] = drawn.to(codes.device)
        self.rows, self.normals = [], []

    def settle(self, codes: torch.Tensor) -> None:
        """Map this job's waiting draws alone and write them into ``codes``."""
        self.place(codes, self.job.prior.from_normal(_cat(self.normals)))


class DrawnCodes:
    """A phase whose ``codes`` may have rows waiting for their prior draws (``drawn``):
    reading ``codes`` writes them in first (alone); :func:`settle` writes every phase's at
    once."""

    drawn: Draws
    _codes: torch.Tensor

    @property
    def codes(self) -> torch.Tensor:
        """The chains' codes, with any waiting prior draws written in."""
        if self.drawn:
            self.drawn.settle(self._codes)
        return self._codes

    @codes.setter
    def codes(self, codes: torch.Tensor) -> None:
        self._codes = codes

    def settle_into(self, drawn: torch.Tensor) -> None:
        """Write the waiting prior draws, mapped (``drawn``), into the codes."""
        self.drawn.place(self._codes, drawn)


def settle(phases: Iterable[object]) -> None:
    """Map the waiting draws of every phase that has some (a :class:`DrawnCodes`), one
    ``from_normal`` call per prior for all of them, and write each into the phase's codes."""
    waiting: dict[int, list] = {}  # by prior (the engine's jobs share one)
    for phase in phases:
        drawn = getattr(phase, "drawn", None)
        if drawn:
            waiting.setdefault(id(drawn.job.prior), []).append(phase)
    for members in waiting.values():
        normals = [z for phase in members for z in phase.drawn.normals]
        mapped = members[0].drawn.job.prior.from_normal(_cat(normals))
        if len(members) == 1:
            members[0].settle_into(mapped)
            continue
        counts = [len(phase.drawn.rows) for phase in members]
        for phase, drawn in zip(members, mapped.split(counts), strict=True):
            phase.settle_into(drawn)


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)
