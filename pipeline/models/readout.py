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
    (same model, layer, unit, position) are computed once, and the neurons of one dense
    layer (a 2-d output) with one index for all their units. The layers are looked up at
    the first call and kept (the hooks are not: each call adds and removes them).
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
        # the unique probes by layer (neurons) or alone (other callables), and where each
        # probe's column lands once those parts are put side by side
        self._layers: dict[tuple, list[int]] = {}
        self._others: list[int] = []
        for u, probe in enumerate(self._unique):
            if isinstance(probe, Neuron):
                key = (id(probe.model), id(probe.preprocess), probe.layer)
                self._layers.setdefault(key, []).append(u)
            else:
                self._others.append(u)
        placed = [u for us in self._layers.values() for u in us] + self._others
        where = {u: i for i, u in enumerate(placed)}
        self._order = [where[u] for u in self._column_of]

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
        n = x.shape[0]
        parts = [self._layer_columns(outputs[key[:2]][key[2]], units, n)
                 for key, units in self._layers.items()]
        parts += [self._unique[u](x).reshape(n, 1) for u in self._others]
        columns = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        same = self._order == list(range(columns.shape[1]))
        acts = columns if same else columns[:, self._order]
        feats = None
        if self.encoder is not None:
            if isinstance(self.encoder, (Neuron, LayerEncoder)):
                group = (id(self.encoder.model), id(self.encoder.preprocess))
                feats = self.encoder.select(outputs[group][self.encoder.layer])
            else:
                feats = self.encoder(x)
            feats = feats.reshape(n, -1)
        return acts, feats

    def _layer_columns(self, output: torch.Tensor, units: list[int], n: int) -> torch.Tensor:
        """``(n, len(units))``: the unique neurons ``units`` of one layer on its ``output``;
        one index for all of them on a dense layer, else each neuron's own selection (which
        also says what is wrong with a bad unit or position)."""
        wanted = [self._unique[u].unit for u in units]
        if output.dim() == 2 and max(wanted) < output.shape[1]:
            return output[:, wanted]
        return torch.stack([self._unique[u].select(output).reshape(n) for u in units], dim=1)
