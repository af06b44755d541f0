"""Typed schemas of the sweep config's ``sampler``, ``cluster``, ``network`` and ``generator``
groups (Hydra ConfigStore).

Every option of these groups (``conf/sampler/*.yaml``, ``conf/cluster/*.yaml``, ...) is merged
onto a dataclass stored as ``<group>/base``, so Hydra itself refuses a value of the wrong type
or an unknown key when it composes the config; nothing is instantiated (no ``_target_``).

The schemas are built from the code's own dataclasses, so a new setting there is a new key
here with no second list to keep: ``sampler`` from :class:`pipeline.sampler.SamplerConfig`
(plus ``n``, ``seed`` and ``transform``), ``cluster`` from
:class:`pipeline.runner.ClusterSettings`, whose ``auto`` fields (``None`` in the code) read
``auto`` in the config; ``network`` and ``generator`` hold the device speed options of
:func:`pipeline.models.speed.speed_settings` (``channels_last``: true, false or ``auto``;
``compile``), beside the network's ``options`` and G's ``kind`` with the arguments of the
built-in generators (null where a kind does not use them). :func:`checked` applies the same
schema to a plain dict.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from pipeline.errors import ConfigError
from pipeline.models.generators import FourierGenerator, PixelGenerator
from pipeline.runner.cluster import AUTO, ClusterSettings
from pipeline.sampler import SamplerConfig


def _field(name: str, hint: Any, default: Any) -> tuple[str, Any, Any]:
    """One schema field (a mutable default becomes a factory); its type is ``hint`` if
    OmegaConf can check it, else ``Any`` (the code's own checks still apply)."""
    if isinstance(default, (list, dict)):
        spec = field(default_factory=lambda: type(default)(default))
    else:
        spec = field(default=default)
    try:
        OmegaConf.structured(dataclasses.make_dataclass("Probe", [(name, hint, spec)]))
    except (OmegaConfBaseException, ValueError, TypeError):
        hint = Any
    return name, hint, spec


def _fields_of(source: type, auto: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """The schema fields of the dataclass ``source``: its types and defaults; the fields
    named in ``auto`` (None in the code) take a number or the string ``auto``."""
    try:
        hints = typing.get_type_hints(source)
    except NameError:  # a hint naming a type imported only for type checkers: untyped
        hints = {}
    out = []
    for spec in dataclasses.fields(source):
        default = spec.default
        if default is dataclasses.MISSING and spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        hint = hints.get(spec.name, Any)
        if spec.name in auto:
            number = next(arg for arg in typing.get_args(hint) if arg is not type(None))
            hint, default = (int | str) if number is int else (int | float | str), "auto"
        out.append(_field(spec.name, hint, default))
    return out


SamplerSchema = dataclasses.make_dataclass(
    "SamplerSchema",
    [
        ("n", int, field(default=50)),
        ("seed", int, field(default=0)),
        # null or {jitter: int, scales: [floats]}; untyped: Hydra cannot merge an override
        # into an Optional dataclass that is None (checked by pipeline.sweep.expand)
        ("transform", Any, field(default=None)),
        *_fields_of(SamplerConfig),
    ],
)
ClusterSchema = dataclasses.make_dataclass("ClusterSchema", _fields_of(ClusterSettings, AUTO))
SPEED = [_field("channels_last", bool | str, "auto"), _field("compile", bool, False)]
NetworkSchema = dataclasses.make_dataclass(
    "NetworkSchema", [_field("options", dict[str, Any], {}), *SPEED]
)
GENERATOR_ARGS = dict.fromkeys(
    name for cls in (PixelGenerator, FourierGenerator) for name in inspect.signature(cls).parameters
)
GeneratorSchema = dataclasses.make_dataclass(
    "GeneratorSchema",
    [_field("kind", str, "preset"), *[_field(name, Any, None) for name in GENERATOR_ARGS], *SPEED],
)
SCHEMAS: dict[str, type] = {
    "sampler": SamplerSchema, "cluster": ClusterSchema, "network": NetworkSchema,
    "generator": GeneratorSchema,
}


def register() -> None:
    """Store the schemas as ``<group>/base`` (``sampler/base``, ...) in Hydra's config store."""
    store = ConfigStore.instance()
    for group, schema in SCHEMAS.items():
        store.store(group=group, name="base", node=schema)


def checked(group: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a plain section of a typed group) merged onto its schema, as a
    plain dict: defaults filled in, ints of float fields made floats; an unknown key or a
    wrong type raises a one-line :class:`ConfigError`."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(SCHEMAS[group]), values)
    except ConfigKeyError as err:
        raise ConfigError(
            f"unknown config key '{group}.{err.key}'; check its spelling (valid: "
            f"{', '.join(f.name for f in dataclasses.fields(SCHEMAS[group]))})"
        ) from None
    except OmegaConfBaseException as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(
            f"{group}.{err.full_key}: {reason}; give a value of the setting's type"
        ) from None
    return OmegaConf.to_container(merged)
