"""``python -m pipeline.runner.join ADDRESS NODES TIMEOUT``: wait until the Ray head at
ADDRESS answers and NODES nodes are alive (jobs/slurm.sbatch runs it before the sweep).

Exit 0 when they are; 1 (``EnvironmentFault: ...``) when they are not within TIMEOUT
seconds; 2 (``ConfigError: ...``) for a malformed address or one that is not a Ray head.
"""

from __future__ import annotations

import sys

from pipeline.errors import CONFIG_EXIT, ENVIRONMENT_EXIT, ConfigError, EnvironmentFault
from pipeline.runner.cluster import wait_for_nodes


def main(argv: list[str]) -> int:
    """Wait as the module docstring says; return the exit code."""
    if len(argv) != 3:
        print("ConfigError: usage: python -m pipeline.runner.join ADDRESS NODES TIMEOUT",
              file=sys.stderr)
        return CONFIG_EXIT
    address, nodes, timeout = argv
    try:
        print(f"{wait_for_nodes(address, int(nodes), float(timeout))} Ray nodes joined {address}")
    except EnvironmentFault as err:
        print(f"EnvironmentFault: {err}", file=sys.stderr)
        return ENVIRONMENT_EXIT
    except (ConfigError, ValueError) as err:
        print(f"ConfigError: {err}", file=sys.stderr)
        return CONFIG_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
