"""Read weight files safely (safetensors, or ``torch.load(weights_only=True)``) into modules."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from pipeline.errors import ConfigError


def read_state_dict(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Load a state dict from ``path`` onto the CPU, never unpickling arbitrary objects.

    ``.safetensors`` files go through safetensors; anything else through
    ``torch.load(weights_only=True)``. ``key`` picks a nested dict (e.g. ``netG_state_dict``);
    a dict holding only ``state_dict`` is unwrapped. Unreadable files raise ConfigError.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            data: object = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except (
        SafetensorError,
        RuntimeError,
        EOFError,
        OSError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        ValueError,
    ) as err:
        raise ConfigError(
            f"cannot read weights from {path} ({type(err).__name__}: {err}); "
            "the file is truncated or not a weight file: fetch it again"
        ) from err
    if key is not None:
        if not isinstance(data, Mapping) or key not in data:
            raise ConfigError(f"{path} has no entry {key!r}; pass the right key or file")
        data = data[key]
    elif isinstance(data, Mapping) and set(data) == {"state_dict"}:
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConfigError(f"{path} does not hold a state dict of tensors")
    return dict(data)


def strip_common_prefix(state: dict[str, torch.Tensor], names: set[str]) -> dict[str, torch.Tensor]:
    """Drop one prefix common to all keys (``G.``, ``module.``, ``model.``) when that makes
    the keys match ``names``, the keys of the module to load into; else return ``state``."""
    if set(state) <= names:
        return state
    for key in state:
        for name in names:
            if key.endswith("." + name):
                prefix = key[: -len(name)]
                if all(k.startswith(prefix) for k in state):
                    return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Load ``state`` strictly into ``module``; mismatches raise one ConfigError listing them."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ConfigError(
            f"weights from {source} do not fit {type(module).__name__}: missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}, wrong shape {wrong[:4]}; pick the matching architecture"
        )
    module.load_state_dict(state, strict=True)
    return module


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode with no parameter gradients (inputs can still get them).

    In-place activations are switched off: a hooked layer output (e.g. AlexNet's fc6,
    ``classifier.1``) would otherwise be overwritten by the ReLU after it when later
    layers are read in the same forward pass.
    """
    for sub in module.modules():
        if getattr(sub, "inplace", False) is True:
            sub.inplace = False
    module.eval()
    module.requires_grad_(False)
    return module
