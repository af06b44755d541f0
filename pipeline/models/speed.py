"""Device speed options of G and the network: channels-last weights and ``torch.compile``.

Both groups (``network``, ``generator``) take ``channels_last`` (``true``, ``false`` or
``auto``: on when the actor's device is a CPU, where it measured 16-32% less CPU per row on
the conv presets, ``bench/passes.py``, or a CUDA GPU, where it measured 1.00-1.23x the
bare forward + backward rows/s on an H200, never slower, ``bench/GPU.md``; off elsewhere)
and ``compile`` (``torch.compile``; off by default: on a CPU it measured no faster and takes
10-80 s to compile). This module imports neither Ray nor Hydra, so a bench can use it on a
machine that has only torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pipeline.errors import ConfigError

SPEED_KEYS = ("channels_last", "compile")


def speed_settings(section: dict[str, Any] | None, group: str) -> tuple[bool | None, bool]:
    """``(channels_last, compile)`` of a ``network`` or ``generator`` section (``group``
    names it in errors); ``channels_last`` is None for ``auto`` (missing keys: auto, off)."""
    section = section or {}
    channels_last = section.get("channels_last", "auto")
    if not (isinstance(channels_last, bool) or channels_last == "auto"):
        raise ConfigError(
            f"{group}.channels_last must be true, false or auto, got {channels_last!r}"
        )
    compile = section.get("compile", False)
    if not isinstance(compile, bool):
        raise ConfigError(f"{group}.compile must be true or false, got {compile!r}")
    return (None if channels_last == "auto" else channels_last), compile


def _check_compilable(module: Any, device: torch.device, group: str) -> None:
    """Raise a one-line :class:`ConfigError` where ``torch.compile`` of ``module`` cannot
    work: not an ``nn.Module``, or a CPU with no C++ compiler for inductor's kernels."""
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"{group}.compile=true needs a torch.nn.Module, but this {group} is a "
            f"{type(module).__name__}; set {group}.compile=false"
        )
    if device.type != "cpu":
        return
    from torch._inductor import cpp_builder, exc  # torch's compiler: only when asked for

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        raise ConfigError(
            f"{group}.compile=true on a CPU needs a C++ compiler for torch.compile (none "
            f"found: set CXX or install g++), or set {group}.compile=false"
        ) from None


def speed_up(
    module: Any,
    channels_last: bool = False,
    compile: bool = False,
    device: torch.device | None = None,
    group: str = "network",
) -> Any:
    """``module`` in place: its 4-d weights in the channels-last memory format (faster
    convolutions with oneDNN on CPUs and on tensor-core GPUs), and compiled with
    ``torch.compile`` (``nn.Module.compile``: the module and its layer names stay as they
    are, so neuron hooks still find them). A module that is not an ``nn.Module`` (a plain
    callable G) is left as it is by ``channels_last``; ``compile`` refuses it."""
    if compile:
        _check_compilable(module, device or torch.device("cpu"), group)
    if channels_last and isinstance(module, nn.Module):
        module.to(memory_format=torch.channels_last)
    if compile:
        module.compile()
    return module


def apply_speed(
    module: Any, section: dict[str, Any] | None, device: torch.device, group: str
) -> Any:
    """:func:`speed_up` with the options of a config section on ``device`` (``auto``
    channels-last: on for a CPU or a CUDA GPU)."""
    channels_last, compile = speed_settings(section, group)
    if channels_last is None:
        channels_last = device.type in ("cpu", "cuda")
    return speed_up(module, channels_last, compile, device, group)
