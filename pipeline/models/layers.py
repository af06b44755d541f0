"""Find a model's submodule by dotted name and read its output through a forward hook."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import torch
from torch import nn

from pipeline.errors import ConfigError

Preprocess = Callable[[torch.Tensor], torch.Tensor] | None


def find_layer(model: nn.Module, layer: str) -> nn.Module:
    """Return the submodule of ``model`` named ``layer`` (dotted, as in ``named_modules``).

    An unknown name raises :class:`ConfigError` listing the closest valid names.
    """
    return find_layers(model, [layer])[layer]


def find_layers(model: nn.Module, layers: Sequence[str]) -> dict[str, nn.Module]:
    """The submodules of ``model`` named ``layers``, found in one walk of its modules (an
    unknown name raises :class:`ConfigError`, as :func:`find_layer`)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    for layer in layers:
        if layer not in modules or layer == "":
            raise _unknown(model, layer, [n for n in modules if n])
    return {layer: modules[layer] for layer in layers}


def _unknown(model: nn.Module, layer: str, names: list[str]) -> ConfigError:
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.4)
    hint = ", ".join(close) if close else ", ".join(names[:5])
    return ConfigError(
        f"unknown layer {layer!r} in {type(model).__name__}; closest valid names: {hint} "
        "(all names: dict(model.named_modules()).keys())"
    )


def layer_width(module: nn.Module) -> int | None:
    """The number of output units of a layer when its type tells it, else ``None``."""
    for attr in ("out_features", "out_channels", "num_features"):
        value = getattr(module, attr, None)
        if isinstance(value, int):
            return value
    return None


def model_device(module: nn.Module, default: torch.device | None = None) -> torch.device:
    """The device of a module's first parameter or buffer (``default`` or CPU if it has none)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return default or torch.device("cpu")


class _CapturedError(Exception):
    """Raised inside the forward once every wanted layer output is captured."""


class LayerReader:
    """Reads the outputs of ``layers`` of ``model`` (on ``preprocess(x)``): the layers are
    looked up once, here; each call hooks them, runs the forward and removes the hooks."""

    def __init__(self, model: nn.Module, layers: Sequence[str], preprocess: Preprocess = None):
        self.model, self.preprocess = model, preprocess
        self.modules = find_layers(model, list(dict.fromkeys(layers)))

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the model once and return the wanted outputs (see :func:`read_layers`)."""
        model, wanted = self.model, self.modules
        captured: dict[str, torch.Tensor] = {}
        handles = []

        def make_hook(name: str) -> Callable:
            def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
                # a copy: a later in-place op (ReLU(inplace=True)) would overwrite the output
                captured[name] = output.clone()
                if len(captured) == len(wanted):
                    raise _CapturedError

            return hook

        if model.training:
            model.eval()
        try:
            for name, module in wanted.items():
                handles.append(module.register_forward_hook(make_hook(name)))
            inputs = self.preprocess(x) if self.preprocess is not None else x
            try:
                model(inputs)
            except _CapturedError:
                pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [name for name in wanted if name not in captured]
        if missing:
            raise ConfigError(
                f"layers {missing} of {type(model).__name__} did not run in the forward pass; "
                "pick layers that the model's forward uses"
            )
        return captured


def read_layers(
    model: nn.Module, layers: Sequence[str], x: torch.Tensor, preprocess: Preprocess = None
) -> dict[str, torch.Tensor]:
    """Run ``model(preprocess(x))`` once and return the outputs of ``layers``.

    The forward stops as soon as every wanted output has been captured (layers after
    the last one are not computed). The model is put in eval mode; hooks are removed
    in all cases, including errors.
    """
    return LayerReader(model, layers, preprocess)(x)
