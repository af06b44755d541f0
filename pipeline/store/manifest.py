"""The manifest of a sweep output (``manifest.json``): checked on reading, sweeps appended."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import ConfigError
from pipeline.store import schema


def parse_manifest(text: str, where: str) -> dict[str, Any]:
    """The manifest in ``text`` (read from ``where``), or a one-line :class:`ConfigError`."""
    try:
        manifest = json.loads(text)
    except ValueError as err:
        raise ConfigError(
            f"cannot read {where} ({err}); restore it or use a new output.dir"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != schema.FORMAT:
        raise ConfigError(f"{where} is not a sweep manifest; use a new output.dir")
    if manifest.get("version") != schema.VERSION:
        raise ConfigError(
            f"{where.rsplit('/', 1)[0]} holds dataset version {manifest.get('version')}, this "
            f"code writes version {schema.VERSION}; use a new output.dir"
        )
    return manifest


def registered(manifest: dict[str, Any] | None, sweep: str, config: dict[str, Any]) -> str | None:
    """The manifest's new text with ``sweep`` appended (a new manifest when ``None``), or
    ``None`` when the sweep is already in it."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if manifest is None:
        manifest = {"format": schema.FORMAT, "version": schema.VERSION, "created": now}
        manifest["sweeps"] = []
    if any(entry.get("hash") == sweep for entry in manifest["sweeps"]):
        return None
    manifest["sweeps"].append({"hash": sweep, "started": now, "config": config})
    return json.dumps(manifest, indent=1, sort_keys=True)
