"""The atlas's Hydra config (conf/atlas.yaml): composing it and turning it into a build."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from pipeline.atlas.build import build
from pipeline.atlas.settings import AtlasSettings
from pipeline.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
CONFIG_NAME = "atlas"


def compose(overrides: list[str] | None = None) -> DictConfig:
    """The atlas config for command-line style ``overrides`` (for notebooks and tests)."""
    if not (CONF_DIR / f"{CONFIG_NAME}.yaml").is_file():
        raise ConfigError(f"no {CONFIG_NAME}.yaml in {CONF_DIR}; run from a checkout")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides or []))


def build_from_config(cfg: DictConfig | dict[str, Any], stream: TextIO | None = None) -> Path:
    """Build the atlas a composed config describes; return the index path."""
    if isinstance(cfg, DictConfig):
        missing = "dataset" not in cfg or OmegaConf.is_missing(cfg, "dataset")
        cfg = {} if missing else OmegaConf.to_container(cfg, resolve=True)
    plain = {k: v for k, v in dict(cfg).items() if k != "hydra"}
    dataset, out = plain.pop("dataset", None), plain.pop("out", None)
    if not dataset:
        raise ConfigError("atlas: no dataset given; pass dataset=<sweep output folder>")
    return build(dataset, out, AtlasSettings.from_dict(plain), stream)
