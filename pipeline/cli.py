"""The console command ``inverse-set``: thin wrappers over the Hydra apps, same overrides.

    inverse-set sweep [--dry-run] [overrides ...]     # = python -m pipeline.sweep ...
    inverse-set atlas dataset=<sweep output> [...]    # = python -m pipeline.atlas ...
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from pipeline.errors import CONFIG_EXIT

COMMANDS = {
    "sweep": ("pipeline.sweep.__main__", "run (or with --dry-run list) a sweep's jobs"),
    "atlas": ("pipeline.atlas.__main__", "build the HTML atlas of a sweep's dataset"),
}


def usage() -> str:
    """The help text."""
    lines = ["usage: inverse-set {sweep,atlas} [hydra overrides ...]", ""]
    lines += [f"  {name:6} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Overrides are the same as for python -m pipeline.sweep / pipeline.atlas "
              "(docs/cluster.md, docs/atlas.md); --help after a command shows its config."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``inverse-set <command> ...`` (``argv`` defaults to the command line)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        sys.exit(0 if args else CONFIG_EXIT)
    command, *rest = args
    if command not in COMMANDS:
        print(f"ConfigError: unknown command {command!r}; use one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        sys.exit(CONFIG_EXIT)
    sys.argv = [f"inverse-set {command}", *rest]
    importlib.import_module(COMMANDS[command][0]).main()


if __name__ == "__main__":
    main()
