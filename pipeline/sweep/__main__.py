"""``python -m pipeline.sweep [--dry-run] [hydra overrides]``: run (or list) a sweep's jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pipeline.errors import exit_on_fault
from pipeline.store.objects import is_remote
from pipeline.sweep.config import CONF_DIR
from pipeline.sweep.interrupt import exit_on_interrupt
from pipeline.sweep.preflight import preflight
from pipeline.sweep.run import dry_run, run
from pipeline.sweep.schema import register


def where_to_look(root: Path | str) -> str:
    """What to tell the user at the end: where the dataset (a folder or an object-store URI)
    is and how to open it."""
    samples = f"{root}/samples/**/*.parquet"
    where = f"'{root}'" if is_remote(root) else root  # a URI's ? and & quoted for the shell
    atlas = f"python -m pipeline.atlas dataset={where}  (a static HTML atlas, written here)"
    return "\n".join(
        [
            f"dataset:  {root}",
            f"  samples {root}/samples  (Parquet, hive-partitioned by layer and unit)",
            f"  jobs    {root}/jobs  (one record per job: status, steps, statistics)",
            f"browse it: {atlas}",
            "open it in Python:",
            f"  import pandas as pd; jobs = pd.read_parquet('{root}/jobs')",
            f"  import duckdb; duckdb.sql(\"SELECT target, count(*) FROM read_parquet('{samples}', "
            "hive_partitioning=true) GROUP BY target\").show()",
            "  images are PNG or WebP bytes in the image column; docs/dataset.md has the schema",
        ]
    )


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    with exit_on_fault():
        if cfg.dry_run:
            dry_run(cfg)
        else:
            print(where_to_look(run(cfg)), file=sys.stderr)


def main() -> None:
    """Entry point: ``--dry-run`` is shorthand for the override ``dry_run=true``.

    Every bad setting ends the program with one ``ConfigError: ...`` line and exit code 2;
    a fault of the machine (disk, network, Ray) with one ``EnvironmentFault: ...`` line and
    exit code 1; Ctrl-C or SIGTERM with one ``interrupted: ...`` line and exit code 130 / 143.
    """
    if "--dry-run" in sys.argv:
        sys.argv.remove("--dry-run")
        sys.argv.append("dry_run=true")
    register()
    with exit_on_fault():
        preflight(sys.argv[1:])
    with exit_on_interrupt():
        _main()


if __name__ == "__main__":
    main()
