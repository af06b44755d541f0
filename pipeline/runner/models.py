"""Build the models of a sweep (G, E and the neurons f) from its model settings, once per actor.

The model settings are a plain dict with four parts, each from a config group:

- ``preset``: ``{"name": zoo preset, "factory": "module:function" or None, "options": {...}}``;
  ``factory`` builds a custom preset (a callable ``(device, **options) -> Preset``-like
  object with generator, network, preprocess, encoder_layer, output_layer, labels, neuron()).
- ``network``: ``{"options": {...}, "channels_last": ..., "compile": ...}``: extra preset
  options that pick the network's variant (e.g. ``size``, its input side), and the device
  speed options (:func:`pipeline.models.speed.speed_settings`).
- ``generator``: ``{"kind": "preset"}`` or ``{"kind": "pixel", "shape": [C, H, W]}`` or
  ``{"kind": "fourier", "size": S, "channels": 3, "decay": 1.0}``, each with the same
  device speed options as the network.
- ``encoder``: ``{"layer": None or name, "pool": None or "mean"/"flatten"}`` (None: preset's).

Device speed options, for G and for the network alike: :mod:`pipeline.models.speed`.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.generators import FourierGenerator, PixelGenerator
from pipeline.models.layers import find_layer, layer_width, read_layers
from pipeline.models.neurons import Neuron, encoder
from pipeline.models.speed import SPEED_KEYS, apply_speed, speed_settings
from pipeline.runner.job import NeuronRef


def _factory(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"preset.factory must look like 'package.module:function', got {path!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"cannot import preset.factory {path!r} ({err})") from None


def load_preset(
    model: dict[str, Any], device: str | torch.device, cache_dir: str | None = None
) -> Any:
    """The preset named by ``model["preset"]`` with the network options, on ``device``.

    ``cache_dir`` is where zoo presets keep their weight files (None: the zoo's default).
    """
    preset = model.get("preset") or {}
    network = model.get("network") or {}
    options = {**(preset.get("options") or {}), **(network.get("options") or {})}
    if preset.get("factory"):
        return _factory(preset["factory"])(device=device, **options)
    if not preset.get("name"):
        raise ConfigError("set preset.name (a zoo preset such as 'faces') or preset.factory")
    from pipeline import zoo  # only for zoo presets (a factory preset needs none of it)

    try:
        return zoo.load(preset["name"], device=device, cache_dir=cache_dir, **options)
    except OSError as err:  # a weight file missing or unreadable
        raise ConfigError(
            f"preset {preset['name']!r} cannot read its files ({err}); put the file there or "
            "fix preset.options (docs/zoo.md lists each preset's files)"
        ) from None


def build_generator(
    spec: dict[str, Any] | None, preset: Any, device: str | torch.device
) -> nn.Module:
    """G: the preset's generator or a built-in parameterisation named by ``spec["kind"]``."""
    spec = {k: v for k, v in (spec or {}).items() if k not in SPEED_KEYS and v is not None}
    kind = spec.pop("kind", "preset")
    if kind == "preset":
        return preset.generator
    if kind == "pixel":
        return PixelGenerator(tuple(spec["shape"])).to(device)
    if kind == "fourier":
        return FourierGenerator(**spec).to(device)
    raise ConfigError(f"generator.kind must be 'preset', 'pixel' or 'fourier', got {kind!r}")


class Models:
    """G, E and the preset, loaded once; neurons f are built on demand and cached."""

    def __init__(
        self,
        model: dict[str, Any],
        device: str | torch.device = "cpu",
        cache_dir: str | None = None,
        fast: bool = True,
    ) -> None:
        """``fast``: apply the device speed options of G and the network
        (:func:`apply_speed`); the driver's copy, which only checks neurons, leaves them off."""
        self.device = torch.device(device)
        self.preset = load_preset(model, self.device, cache_dir)
        network, generator = model.get("network"), model.get("generator")
        self.generator = build_generator(generator, self.preset, self.device)
        if fast:
            apply_speed(self.preset.network, network, self.device, "network")
            apply_speed(self.generator, generator, self.device, "generator")
        else:  # still refuse a bad value here, before any actor starts
            for section, group in ((network, "network"), (generator, "generator")):
                speed_settings(section, group)
        spec = model.get("encoder") or {}
        self.encoder = encoder(
            self.preset.network,
            spec.get("layer") or self.preset.encoder_layer,
            pool=spec.get("pool") or getattr(self.preset, "encoder_pool", "mean"),
            preprocess=self.preset.preprocess,
        )
        self._neurons: dict[NeuronRef, Neuron] = {}

    @property
    def output_layer(self) -> str:
        """The layer whose units the preset's labels name."""
        return self.preset.output_layer

    def unit(self, label: str | int) -> int:
        """A label of the output layer (or an index) as a unit index."""
        return self.preset.unit(label)

    def neuron(self, ref: NeuronRef) -> Neuron:
        """f for a neuron reference (built once)."""
        if ref not in self._neurons:
            self._neurons[ref] = self.preset.neuron(ref.unit, ref.layer, spatial=ref.spatial_arg())
        return self._neurons[ref]

    def width(self, layer: str) -> int:
        """How many units (channels) ``layer`` has: from its type, else from one forward pass."""
        width = layer_width(find_layer(self.preset.network, layer))
        if width is not None:
            return width
        with torch.no_grad():
            codes = torch.zeros(1, self.generator.code_dim, device=self.device)
            x = self.generator(codes)
            out = read_layers(self.preset.network, [layer], x, self.preset.preprocess)
        return int(out[layer].shape[1])
