"""Expand a resolved sweep config into jobs: (neuron or intersection) x band."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.models.readout import Readout
from pipeline.models.speed import speed_settings
from pipeline.models.transforms import RandomTransforms
from pipeline.runner.job import JobSpec
from pipeline.runner.models import Models
from pipeline.sampler import SamplerConfig
from pipeline.sweep.bands import parse_bands
from pipeline.sweep.config import JOB_SAMPLER_KEYS, to_plain
from pipeline.sweep.neurons import ModelInfo, intersection_targets, job_bands, single_targets

MODEL_KEYS = ("preset", "network", "generator", "encoder")


class LazyModels:
    """The sweep's models on the CPU, loaded the first time expansion needs to ask them
    (the output layer's name, a label, or a layer's width)."""

    def __init__(self, model: dict[str, Any], cache_dir: str | None = None) -> None:
        self._model = model
        self._cache_dir = cache_dir
        self._loaded: Models | None = None

    @property
    def models(self) -> Models:
        """The loaded models."""
        if self._loaded is None:
            self._loaded = Models(self._model, "cpu", self._cache_dir, fast=False)
        return self._loaded

    @property
    def output_layer(self) -> str:
        """The preset's output layer."""
        return self.models.output_layer

    def unit(self, label: str | int) -> int:
        """A unit of the output layer by label or index."""
        return self.models.unit(label)

    def width(self, layer: str) -> int:
        """The number of units of ``layer``."""
        return self.models.width(layer)


def model_settings(plain: dict[str, Any]) -> dict[str, Any]:
    """The model part of a job: preset, network, generator and encoder settings (their
    device speed options checked here, before any actor loads a model)."""
    model = {key: plain[key] for key in MODEL_KEYS}
    for group in ("network", "generator"):
        speed_settings(model[group], group)
    return model


def sampler_settings(plain: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """``(n, seed, settings)``: settings = every SamplerConfig field plus ``transform``.

    ``plain`` comes from :func:`pipeline.sweep.config.to_plain` (types checked by the schema,
    so ``lr=1`` and ``lr=1.0`` give the same job id); the values are checked by building the
    SamplerConfig and the transforms.
    """
    section = dict(plain["sampler"])
    n, seed, transform = (section.pop(key) for key in JOB_SAMPLER_KEYS)
    if n < 1:
        raise ConfigError(f"sampler.n must be a positive int, got {n!r}")
    config = SamplerConfig.from_dict(section).to_dict()
    if transform is not None:
        if not isinstance(transform, dict) or set(transform) - {"jitter", "scales", "rotate"}:
            raise ConfigError(
                "sampler.transform must be null or {jitter: int, scales: [floats], rotate: "
                f"degrees}}, got {transform!r}"
            )
        RandomTransforms(**transform)
    return n, seed, {**config, "transform": transform}


def expand(cfg: DictConfig | dict[str, Any], info: ModelInfo | None = None) -> list[JobSpec]:
    """The jobs of a sweep config, without duplicates, in config order.

    ``info`` answers questions about the models (default: load them on the CPU, only if
    the neuron settings need it).
    """
    plain = to_plain(cfg)
    model = model_settings(plain)
    info = info if info is not None else LazyModels(model)
    neurons = plain["neurons"] or {}
    unknown = sorted(set(neurons) - {"select", "intersections"})
    if unknown:
        raise ConfigError(f"neurons: unknown keys {unknown}; valid: select, intersections")
    targets = single_targets(neurons.get("select"), info)
    targets += intersection_targets(neurons.get("intersections"), info)
    if not targets:
        raise ConfigError("no neurons selected; set neurons.select or neurons.intersections")
    n, seed, sampler = sampler_settings(plain)
    sweep_bands = parse_bands(plain["bands"])
    jobs: dict[str, JobSpec] = {}
    for target in targets:
        for bands in job_bands(target, sweep_bands):
            job = JobSpec(
                target.neurons, bands, n, seed, sampler, model, target.name, target.partition
            )
            jobs.setdefault(job.job_id, job)
    return list(jobs.values())


def check_neurons(jobs: list[JobSpec], info: LazyModels) -> None:
    """Read every neuron of ``jobs`` once on the CPU models, so that an unknown layer or a
    unit or position out of range stops the sweep with a :class:`ConfigError` before
    anything is written, instead of failing each of its jobs.

    If the models do not load here (e.g. the weights live only on the workers, or this
    machine cannot fetch them), the check is left to the actors, which stop the sweep with
    one line if they cannot load them.
    """
    try:
        models = info.models
    except (ConfigError, EnvironmentFault):
        return
    refs = list(dict.fromkeys(ref for job in jobs for ref in job.neurons))
    neurons = []
    for ref in refs:
        try:
            neurons.append(models.neuron(ref))
        except ConfigError as err:
            raise ConfigError(f"neuron {ref.name}: {err}") from None
    codes = torch.zeros(1, models.generator.code_dim, device=models.device)
    with torch.no_grad():
        Readout(neurons)(models.generator(codes))
