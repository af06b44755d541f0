"""A preset: a generator G, the network holding the neurons f, and the glue and layers for E."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.neurons import LayerEncoder, Neuron, encoder, neuron
from pipeline.zoo.labels import find_unit


@dataclass
class Preset:
    """Everything the sampler needs for one named model pairing.

    ``generator`` maps codes to images in [0, 1]; ``preprocess`` maps those images to the
    ``network``'s input (resize + normalise); ``encoder_layer`` (pooled by ``encoder_pool``)
    is E; ``output_layer`` holds the units named by ``labels``. ``info`` records sources,
    checksums, licences and the options used.
    """

    name: str
    generator: nn.Module
    network: nn.Module
    preprocess: nn.Module | None
    encoder_layer: str
    output_layer: str
    labels: list[str]
    description: str
    encoder_pool: str = "mean"
    info: dict[str, Any] = field(default_factory=dict)

    def unit(self, label: str | int) -> int:
        """The index in ``output_layer`` of a class name (or a range-checked index)."""
        return find_unit(self.labels, label)

    def neuron(self, unit: int | str, layer: str | None = None, spatial: str = "center") -> Neuron:
        """A ``pipeline.neuron`` read-out on this preset's network and glue.

        ``unit`` may be a label of ``output_layer`` (e.g. ``"sunglasses"``) when ``layer``
        is omitted; on other layers it is a channel or feature index.
        """
        if layer is None or layer == self.output_layer:
            layer, unit = self.output_layer, self.unit(unit)
        elif not isinstance(unit, int):
            raise ConfigError(
                f"unit {unit!r} on layer {layer!r} must be an index; "
                f"labels name only the units of {self.output_layer!r}"
            )
        return neuron(self.network, layer, unit, spatial=spatial, preprocess=self.preprocess)

    def encoder(self) -> LayerEncoder:
        """The ``pipeline.encoder`` E: ``encoder_layer`` pooled by ``encoder_pool``."""
        return encoder(
            self.network, self.encoder_layer, pool=self.encoder_pool, preprocess=self.preprocess
        )
