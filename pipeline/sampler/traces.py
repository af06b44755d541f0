"""Each chain's traced series (what :mod:`pipeline.sampler.diagnostics` reads), kept so that
reading them all again, as the sampler does every few transitions, costs only the rows
added since the last read."""

from __future__ import annotations

import torch


class Traces:
    """Per chain, rows appended one transition at a time; read as one ``(T, S)`` tensor per
    chain, stacked once (a later read stacks the new rows and appends them)."""

    def __init__(self, chains: int) -> None:
        self.rows: list[list[torch.Tensor]] = [[] for _ in range(chains)]
        self.stacked: list[torch.Tensor | None] = [None] * chains

    def append(self, chain: int, row: torch.Tensor) -> None:
        """Trace one more row of ``chain``."""
        self.rows[chain].append(row)

    def last(self, chain: int) -> torch.Tensor:
        """The last row traced for ``chain``."""
        return self.rows[chain][-1]

    def total(self) -> int:
        """Rows traced over all chains."""
        return sum(len(rows) for rows in self.rows)

    def chains(self, min_length: int = 1) -> list[torch.Tensor]:
        """The traces of the chains with at least ``min_length`` rows, in chain order."""
        out = []
        for i, rows in enumerate(self.rows):
            if len(rows) < min_length:
                continue
            have = self.stacked[i]
            done = 0 if have is None else have.shape[0]
            if len(rows) > done:
                new = torch.stack(rows[done:])
                self.stacked[i] = have = new if have is None else torch.cat([have, new])
            out.append(have)
        return out
