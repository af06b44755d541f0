"""Neuron read-outs f and encoders E cut from a model at a named layer.

A :class:`Neuron` is the activation f of one unit of one layer; a :class:`LayerEncoder`
is E, the layer's output as a feature vector. Both are callables on batches, and
several of them on the same model are read in one forward pass by
:class:`pipeline.models.readout.Readout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.layers import Preprocess, find_layer, layer_width, read_layers

Spatial = str | tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Neuron:
    """The activation f(x) of ``unit`` in ``layer`` of ``model`` (a callable on batches).

    For outputs with spatial dimensions (conv layers), ``spatial`` picks the position:
    ``"center"`` (the paper's choice), ``"mean"`` over all positions, or an index
    tuple such as ``(y, x)``.
    """

    model: nn.Module
    layer: str
    unit: int
    spatial: Spatial = "center"
    preprocess: Preprocess = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """A short name: ``layer:unit`` plus the spatial choice when not the default."""
        where = "" if self.spatial == "center" else f"@{self.spatial}"
        return f"{self.layer}:{self.unit}{where}"

    @property
    def key(self) -> tuple:
        """Identity used to read equal neurons once."""
        return (id(self.model), id(self.preprocess), self.layer, self.unit, self.spatial)

    def select(self, output: torch.Tensor) -> torch.Tensor:
        """Pick this neuron's activations, shape ``(n,)``, out of the layer's output."""
        if output.dim() < 2:
            raise ConfigError(
                f"layer {self.layer!r} gives a {output.dim()}-d output; need (n, units, ...)"
            )
        width = output.shape[1]
        if self.unit >= width:
            raise ConfigError(
                f"unit {self.unit} is out of range for layer {self.layer!r}, "
                f"which has {width} units (valid 0..{width - 1})"
            )
        channel = output[:, self.unit]
        if channel.dim() == 1:
            return channel
        dims = tuple(channel.shape[1:])
        if self.spatial == "mean":
            return channel.flatten(1).mean(dim=1)
        if self.spatial == "center":
            index = tuple(d // 2 for d in dims)
        else:
            index = tuple(self.spatial)
            if len(index) != len(dims) or any(
                not 0 <= i < d for i, d in zip(index, dims, strict=True)
            ):
                raise ConfigError(
                    f"spatial position {index} is outside layer {self.layer!r}'s grid {dims}; "
                    f"use indices below {dims}, 'center' or 'mean'"
                )
        return channel[(slice(None), *index)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): the activations for a batch ``x``, shape ``(n,)``."""
        out = read_layers(self.model, [self.layer], x, self.preprocess)[self.layer]
        return self.select(out)


@dataclass(frozen=True, eq=False)
class LayerEncoder:
    """E(x): a layer's output as a feature vector, pooled (``"mean"``) or ``"flatten"``-ed."""

    model: nn.Module
    layer: str
    pool: str = "mean"
    preprocess: Preprocess = field(default=None, repr=False)

    def select(self, output: torch.Tensor) -> torch.Tensor:
        """Turn the layer's output into features of shape ``(n, m)``."""
        if output.dim() > 2 and self.pool == "mean":
            return output.flatten(2).mean(dim=2)
        return output.flatten(1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) for a batch, shape ``(n, m)``."""
        return self.select(read_layers(self.model, [self.layer], x, self.preprocess)[self.layer])


def _check_spatial(spatial: object) -> Spatial:
    if spatial in ("center", "mean"):
        return spatial  # type: ignore[return-value]
    if (
        isinstance(spatial, (tuple, list))
        and spatial
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in spatial)
    ):
        return tuple(spatial)
    raise ConfigError(
        "spatial must be 'center', 'mean' or a tuple of non-negative ints like (y, x); "
        f"got {spatial!r}"
    )


def neuron(
    model: nn.Module,
    layer: str,
    unit: int,
    spatial: Spatial = "center",
    preprocess: Preprocess = None,
) -> Neuron:
    """Return f, the activation of ``unit`` in the layer named ``layer`` of ``model``.

    ``layer`` is a dotted module name (``"classifier.1"``, ``"features.14.conv.2"``).
    Unknown names fail with the closest valid ones; a unit out of range fails naming
    the layer's size (checked now when the layer type tells its width, else on first use).
    """
    module = find_layer(model, layer)
    if isinstance(unit, bool) or not isinstance(unit, int) or unit < 0:
        raise ConfigError(f"unit must be a non-negative int, got {unit!r}")
    width = layer_width(module)
    if width is not None and unit >= width:
        raise ConfigError(
            f"unit {unit} is out of range for layer {layer!r} ({type(module).__name__}), which has "
            f"{width} units (valid 0..{width - 1})"
        )
    return Neuron(model, layer, unit, _check_spatial(spatial), preprocess)


def encoder(
    model: nn.Module, layer: str, pool: str = "mean", preprocess: Preprocess = None
) -> LayerEncoder:
    """Return E, the model cut at ``layer``: features pooled by ``"mean"`` or ``"flatten"``-ed."""
    find_layer(model, layer)
    if pool not in ("mean", "flatten"):
        raise ConfigError(f"pool must be 'mean' or 'flatten', got {pool!r}")
    return LayerEncoder(model, layer, pool, preprocess)
