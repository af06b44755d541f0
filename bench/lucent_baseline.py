"""torch-lucent's feature visualisation with its diversity objective, as a baseline.

Lucent (the PyTorch port of Lucid) optimises a batch of images in its decorrelated
Fourier parameterisation for ``channel(layer, unit) - weight * diversity(div_layer)``
(the diversity term penalises the cosine similarity of the batch's Gram matrices) with
Adam (lr 0.05) through its standard random transforms (pad, jitter, scale, rotate) and
ImageNet normalisation: the loop of ``lucent.optvis.render.render_vis``, written out here
because ``render`` imports IPython. One step costs ``batch`` forward + backward passes of
the network (chain-evaluations in the quality table).

torch-lucent 0.1.8 pins ``kornia<=0.4.1`` and many tools it does not need; install it
with ``pip install --no-deps torch-lucent==0.1.8 kornia==0.4.1 decorator==5.3.1``.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from pipeline.models.layers import find_layer

INSTALL = "pip install --no-deps torch-lucent==0.1.8 kornia==0.4.1 decorator==5.3.1"


def missing() -> str | None:
    """Why lucent cannot run here (``None`` when it can)."""
    try:
        from lucent.optvis import objectives, param, transform  # noqa: F401
    except ImportError as err:
        return f"torch-lucent is not importable ({err}); install it with `{INSTALL}`"
    return None


def render(
    network: nn.Module,
    layer: str,
    unit: int,
    diversity_layer: str,
    batch: int,
    steps: int,
    size: int = 128,
    snapshots: int = 5,
    seed: int = 0,
    weight: float = 100.0,
) -> torch.Tensor:
    """Optimise ``batch`` images for ``steps`` steps; return the batch at ``snapshots``
    evenly spaced steps (the last one included), images in [0, 1] of side ``size``."""
    from lucent.optvis import objectives, param, transform

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    params, image_f = param.image(size, batch=batch)
    optimizer = torch.optim.Adam(params, lr=5e-2)
    pipeline_ = transform.compose([
        *transform.standard_transforms,
        transform.normalize(),
        nn.Upsample(size=size, mode="bilinear", align_corners=True),
    ])
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        find_layer(network, name).register_forward_hook(
            lambda _m, _i, out, name=name: outputs.__setitem__(name, out)
        )
        for name in {layer, diversity_layer}
    ]
    objective = objectives.channel(layer, unit) - weight * objectives.diversity(diversity_layer)
    marks = {round(steps * (i + 1) / snapshots) for i in range(snapshots)}
    images = []
    try:
        for step in range(1, steps + 1):
            optimizer.zero_grad()
            network(pipeline_(image_f()))
            objective(outputs.__getitem__).backward()
            optimizer.step()
            if step in marks:
                images.append(image_f().detach().clamp(0, 1).cpu())
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(images)
