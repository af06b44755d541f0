"""``python -m pipeline.atlas dataset=<sweep output> [out=<folder>] [overrides]``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from pipeline.atlas.config import CONF_DIR, CONFIG_NAME, build_from_config
from pipeline.errors import exit_on_fault


@hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Build the atlas and print the path of its index page (one ``ConfigError`` line and
    exit code 2 for a bad setting, one ``EnvironmentFault`` line and exit code 1 for a fault
    of the machine)."""
    with exit_on_fault():
        index = build_from_config(cfg)
    print(index)


if __name__ == "__main__":
    main()
