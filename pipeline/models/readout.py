"""Read many activations f_j and the encoder E in as few forward passes as possible."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from pipeline.models.layers import LayerReader
from pipeline.models.neurons import LayerEncoder, Neuron

Probe = Callable[[torch.Tensor], torch.Tensor]


class Readout:
    """Evaluate activations ``A = [f_1(x), ..., f_p(x)]`` and features ``E(x)`` together.

    Neurons and a :class:`LayerEncoder` that share a model and preprocessing are read
    in ONE hooked forward pass; any other callable is called on its own. Equal neurons
    (same model, layer, unit, position) are computed once. The layers are looked up at the
    first call and kept (the hooks are not: each call adds and removes them).
    """

    def __init__(self, probes: Sequence[Probe], encoder: Probe | None = None) -> None:
        self.probes = list(probes)
        self.encoder = encoder
        self._groups: dict[tuple, tuple] = {}
        self._readers: dict[tuple, LayerReader] | None = None
        self._column_of: list[int] = []
        unique: dict[object, int] = {}
        self._unique: list[Probe] = []
        for probe in self.probes:
            key = probe.key if isinstance(probe, Neuron) else id(probe)
            if key not in unique:
                unique[key] = len(self._unique)
                self._unique.append(probe)
            self._column_of.append(unique[key])
        for item in [*self._unique, encoder]:
            if isinstance(item, (Neuron, LayerEncoder)):
                group = (id(item.model), id(item.preprocess))
                self._groups.setdefault(group, (item.model, item.preprocess, []))[2].append(
                    item.layer
                )

    @property
    def passes(self) -> int:
        """How many forward passes one call makes through hooked models."""
        return len(self._groups)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(A, F)``: activations ``(n, p)`` and features ``(n, m)`` (or ``None``)."""
        if self._readers is None:
            self._readers = {
                group: LayerReader(model, layers, preprocess)
                for group, (model, preprocess, layers) in self._groups.items()
            }
        outputs = {group: read(x) for group, read in self._readers.items()}

        def evaluate(item: Probe) -> torch.Tensor:
            if isinstance(item, (Neuron, LayerEncoder)):
                group = (id(item.model), id(item.preprocess))
                return item.select(outputs[group][item.layer])
            return item(x)

        columns = [evaluate(p).reshape(x.shape[0]) for p in self._unique]
        acts = torch.stack([columns[i] for i in self._column_of], dim=1)
        feats = None
        if self.encoder is not None:
            feats = evaluate(self.encoder).reshape(x.shape[0], -1)
        return acts, feats
