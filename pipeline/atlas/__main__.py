"""``python -m pipeline.atlas dataset=<sweep output> [out=<folder>] [overrides]``."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from pipeline.atlas.config import CONF_DIR, CONFIG_NAME, build_from_config
from pipeline.errors import ConfigError


@hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Build the atlas and print the path of its index page."""
    try:
        index = build_from_config(cfg)
    except ConfigError as err:
        print(f"ConfigError: {err}", file=sys.stderr)
        sys.exit(2)
    print(index)


if __name__ == "__main__":
    main()
