"""Passes of G and the network at a few row counts on a GPU (padded, or in chunks).

cuDNN plans each new input shape once: on an H200, a MobileNetV2 forward + backward at a
row count it had not seen took 3.3 s, against 21 ms at a count it had (a forward 1.6 s
against 7 ms; bench/RESULTS.md, "GPU throughput"), and the sampler's passes change their
row count every iteration as chains enter and leave the gradient rows. On a CUDA device a
pass therefore runs at a bucket size: the next power of two from :data:`MIN_ROWS` up to
:data:`CHUNK` rows, and beyond that in chunks of :data:`CHUNK` rows (the last one padded),
so a process plans at most eight shapes a module. Padded rows are zero codes or inputs and
are cut off every output; the networks run in eval mode, where rows do not interact, so a
row's result is that of the unpadded pass up to the rounding of the kernels chosen. On a
CPU passes run as they are (results stay bit-identical to earlier versions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

CHUNK = 1024
MIN_ROWS = 8


def bucket(rows: int) -> int:
    """The row count a pass of ``rows`` (<= :data:`CHUNK`) runs at: the next power of two,
    at least :data:`MIN_ROWS`."""
    return max(MIN_ROWS, 1 << max(rows - 1, 0).bit_length())


def pads(device: torch.device) -> bool:
    """Whether passes on ``device`` run at bucket sizes (CUDA devices)."""
    return device.type == "cuda"


def _cut(out: Any, rows: int) -> Any:
    """The first ``rows`` rows of every tensor in ``out`` (a tensor, None or a tuple)."""
    if isinstance(out, tuple):
        return tuple(_cut(o, rows) for o in out)
    return out if out is None else out[:rows]


def _join(outs: list[Any]) -> Any:
    """Chunks' outputs concatenated along the rows, element by element for tuples."""
    first = outs[0]
    if isinstance(first, tuple):
        return tuple(_join([o[i] for o in outs]) for i in range(len(first)))
    return None if first is None else torch.cat(outs)


def padded_call(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, pad: bool | None = None) -> Any:
    """``fn(x)`` with the rows of ``x`` run at bucket sizes where ``pad`` (default: on a
    CUDA device, :func:`pads`); ``fn`` returns a tensor or a tuple of tensors (or None)
    with rows first. Differentiable: gradients reach ``x``'s rows, none the padding."""
    if pad is None:
        pad = pads(x.device)
    if not pad or not x.shape[0]:
        return fn(x)
    outs = []
    for part in x.split(CHUNK):
        rows = part.shape[0]
        size = bucket(rows)
        if size > rows:
            part = torch.cat([part, part.new_zeros(size - rows, *part.shape[1:])])
        outs.append(_cut(fn(part), rows))
    return outs[0] if len(outs) == 1 else _join(outs)
