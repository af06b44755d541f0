"""What the exploring phase asks of a transition kernel (slice, bounce, subspace).

A kernel holds per-chain transition state for K chains. The phase starts transitions
(``start``), evaluates ``proposals()`` (with a gradient on ``grad_rows()``, whose penalty is
``loss``) and hands the outcome back through :meth:`Kernel.observed`, which says which
chains ended their transition and which of those moved. Kernels that never ask for a
gradient set ``wants_gradients = False``: the phase then neither builds their gradient
mask nor adds their loss.
"""

from __future__ import annotations

import torch

from pipeline.sampler.job import Evaluation, row_mask


class Kernel:
    """The shared part of the kernels: :meth:`observed` on top of the kernel's own masked
    ``observe`` (and ``adapt`` where ``adaptive``)."""

    adaptive = False  # whether every chain runs a burn-in in which the kernel adapts
    wants_gradients = True  # whether grad_rows() may ever name a chain

    def observe(
        self, rows: torch.Tensor, ok: torch.Tensor, view: Evaluation, lo: torch.Tensor,
        hi: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """After evaluating the proposals of ``rows`` (bool): (ended, moved) as bool masks."""
        raise NotImplementedError

    def adapt(self, ended: torch.Tensor, moved: torch.Tensor, burning: torch.Tensor) -> None:
        """Adapt after the transitions ``ended`` (only called when ``adaptive``)."""

    def observed(
        self, rows: list[int], view: Evaluation, hits: list[bool], lo: torch.Tensor,
        hi: torch.Tensor, burn: list[int],
    ) -> tuple[set[int], set[int]]:
        """The chains ``rows`` after their evaluation ``view`` (``hits``: every chain's
        in-band flag on the host; ``burn``: burn-in transitions left per chain): the set of
        those whose transition ended, and the set of those of them that moved."""
        ended, moved = self.observe(row_mask(rows, view.ok), view.ok, view, lo, hi)
        if self.adaptive:
            self.adapt(ended, moved, torch.tensor(burn, device=ended.device) > 0)
        ended_now, moved_now = torch.stack((ended, moved)).tolist()
        return {i for i in rows if ended_now[i]}, {i for i in rows if moved_now[i]}
