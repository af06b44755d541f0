"""The sweep's Hydra config: where it lives, composing it, and its plain, checked form.

The ``sampler`` and ``cluster`` groups sit on typed schemas (:mod:`pipeline.sweep.schema`),
built from :class:`pipeline.sampler.SamplerConfig` and
:class:`pipeline.runner.ClusterSettings`, so that every setting can be overridden from the
command line (``sampler.lr=0.1``) and Hydra refuses wrong types and unknown keys.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.sweep.schema import SCHEMAS, checked, register

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# The parts of the config that decide the results (the rest says where and how to run).
RESULT_KEYS = ("preset", "network", "generator", "encoder", "neurons", "bands", "sampler")
SECTIONS = (*RESULT_KEYS, "cluster", "output")
JOB_SAMPLER_KEYS = ("n", "seed", "transform")


def conf_dir() -> Path:
    """The ``conf/`` folder of this checkout."""
    if not (CONF_DIR / "config.yaml").is_file():
        raise EnvironmentFault(
            f"no Hydra config at {CONF_DIR}; run from a checkout of the repository"
        )
    return CONF_DIR


def compose(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """The sweep config for command-line style ``overrides`` (for notebooks and tests)."""
    register()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))


def to_plain(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The resolved config as plain dicts and lists (no Hydra section), checked for sections;
    the ``sampler`` and ``cluster`` sections checked against their schemas (as Hydra does
    when it composes them), so a config given as a plain dict gets the same checks."""
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    plain = {k: v for k, v in dict(plain).items() if k != "hydra"}
    missing = [k for k in SECTIONS if k not in plain]
    if missing:
        raise ConfigError(f"sweep config lacks sections {missing}; compose it from conf/")
    return {**plain, **{group: checked(group, plain[group] or {}) for group in SCHEMAS}}


def sweep_hash(plain: dict[str, Any]) -> str:
    """16 hex digits identifying what a sweep computes (its result-deciding sections)."""
    text = json.dumps({k: plain[k] for k in RESULT_KEYS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
