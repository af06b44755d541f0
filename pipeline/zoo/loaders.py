"""Loaders for the real setting (internet, a cluster): torchvision, timm, BigGAN.

DeePSiM / upconv generators are in :mod:`pipeline.zoo.deepsim`. Every loader returns a
frozen module (eval mode, no parameter gradients) on ``device``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.zoo.cache import resolve_file
from pipeline.zoo.checkpoints import freeze, load_into, read_state_dict, strip_common_prefix


def _unknown(kind: str, name: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    return ConfigError(
        f"unknown {kind} {name!r}; did you mean {', '.join(close) or 'none'}? "
        f"({len(valid)} valid names)"
    )


def torchvision_weights(name: str, weights: str | WeightsEnum | None) -> WeightsEnum | None:
    """Resolve ``weights`` (an enum member, its name like ``"IMAGENET1K_V1"``, ``"DEFAULT"``
    or ``None``) for torchvision classifier ``name``."""
    valid = torchvision.models.list_models(module=torchvision.models)
    if name not in valid:
        raise _unknown("torchvision classifier", name, valid)
    if weights is None or isinstance(weights, WeightsEnum):
        return weights
    enum = torchvision.models.get_model_weights(name)
    try:
        return enum[weights]
    except KeyError as err:
        raise ConfigError(
            f"{name} has no weights {weights!r}; valid: {', '.join(enum.__members__)}"
        ) from err


def torchvision_classifier(
    name: str, weights: str | WeightsEnum | None = "DEFAULT", device: str | torch.device = "cpu"
) -> nn.Module:
    """``torchvision.models.get_model(name, weights=...)``, frozen, e.g. ``("alexnet",
    "IMAGENET1K_V1")`` for the paper's fc8 (layer ``classifier.6``; fc6 is ``classifier.1``).

    Weights download into ``$TORCH_HOME/hub/checkpoints``; offline, put the file there first.
    Class names: ``torchvision_weights(name, weights).meta["categories"]``.
    """
    resolved = torchvision_weights(name, weights)
    try:
        model = torchvision.models.get_model(name, weights=resolved)
    except OSError as err:
        raise EnvironmentFault(
            f"cannot fetch {resolved} ({err}); check the network, or download {resolved.url} into "
            "$TORCH_HOME/hub/checkpoints/ and retry"
        ) from err
    return freeze(model).to(device)


def timm_model(
    name: str,
    checkpoint: str | Path | None = None,
    sha256: str | None = None,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    **kwargs,
) -> nn.Module:
    """``timm.create_model(name, **kwargs)`` with weights from a local path or URL.

    The checkpoint is checked against ``sha256``, read safely (safetensors or
    ``torch.load(weights_only=True)``), stripped of a common ``module.``-style prefix and
    loaded strictly. Without a checkpoint the weights are random.
    """
    import timm

    if not timm.is_model(name):
        raise _unknown("timm model", name, timm.list_models())
    model = timm.create_model(name, pretrained=False, **kwargs)
    if checkpoint is not None:
        path = resolve_file(checkpoint, sha256, cache_dir)
        state = strip_common_prefix(read_state_dict(path), set(model.state_dict()))
        load_into(model, state, str(path))
    return freeze(model).to(device)


class BigGANGenerator(nn.Module):
    """A class-conditional BigGAN as a sampler G for one ImageNet class.

    The code is the noise vector z; its prior is ``truncation`` times a normal truncated
    at +-2, hence ``init_std = truncation`` and ``code_bounds = (-2t, 2t)``. The output in
    [-1, 1] is mapped to [0, 1]. ``model`` is called as ``model(z, class_vector, truncation)``
    (the ``pytorch_pretrained_biggan`` convention).
    """

    def __init__(
        self,
        model: nn.Module,
        class_index: int,
        truncation: float = 0.4,
        code_dim: int = 128,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if not 0 <= class_index < num_classes:
            raise ConfigError(f"class_index {class_index} is not in 0..{num_classes - 1}")
        if not 0 < truncation <= 1:
            raise ConfigError(f"truncation {truncation} must be in (0, 1]")
        self.model = model
        self.truncation = truncation
        self.code_dim = code_dim
        self.init_std = truncation
        self.code_bounds = (-2 * truncation, 2 * truncation)
        onehot = torch.zeros(1, num_classes)
        onehot[0, class_index] = 1.0
        self.register_buffer("class_vector", onehot, persistent=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] of the chosen class for a batch of noise codes."""
        if codes.dim() != 2 or codes.shape[1] != self.code_dim:
            raise ConfigError(
                f"codes must have shape (n, {self.code_dim}), got {tuple(codes.shape)}"
            )
        classes = self.class_vector.expand(codes.shape[0], -1).to(codes.dtype)
        return (self.model(codes, classes, self.truncation) + 1) / 2


def biggan_generator(
    class_index: int,
    resolution: int = 128,
    truncation: float = 0.4,
    device: str | torch.device = "cpu",
) -> BigGANGenerator:
    """BigGAN-deep (``pytorch_pretrained_biggan``; downloads its weights on first use)."""
    try:
        from pytorch_pretrained_biggan import BigGAN
    except ImportError as err:
        raise ConfigError(
            "BigGAN needs the pytorch_pretrained_biggan package: "
            "pip install pytorch-pretrained-biggan (it downloads weights)"
        ) from err
    if resolution not in (128, 256, 512):
        raise ConfigError(f"BigGAN-deep resolution {resolution} must be 128, 256 or 512")
    model = BigGAN.from_pretrained(f"biggan-deep-{resolution}")
    return freeze(BigGANGenerator(model, class_index, truncation)).to(device)
