"""The build manifest: what each page and job's thumbnails were built from, for rebuilds.

``<out>/atlas-manifest.json``::

    {"format": "inverse-set-atlas", "version": 2, "dataset": "...",
     "pages": {entry name: {"key": ..., "files": [...], "preview": "previews/..." | null}},
     "sprites": {job_id: {"key": ..., "files": ["sprites/<job_id>.png"]}}}

``<out>/jobs-cache.parquet`` holds the job records the last build read, with their files'
signatures, so that a rebuild reads only new or rewritten records
(:mod:`pipeline.store.jobcache`).

A page is rebuilt when its key (settings, label, links and its jobs' record keys) changed;
a job's sprite sheet is rewritten when its record or the thumbnail settings changed. A
manifest of an older layout has its files deleted and everything is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

NAME = "atlas-manifest.json"
JOBS_CACHE = "jobs-cache.parquet"  # the job records the last build read (written before NAME)
FORMAT, VERSION = "inverse-set-atlas", 2
TABLES = ("pages", "sprites")


class Manifest:
    """The manifest of one atlas folder, loaded (or empty) and saved atomically."""

    def __init__(self, root: Path, dataset: str | Path) -> None:
        self.root = root
        self.path = root / NAME
        self.pages: dict[str, dict[str, Any]] = {}
        self.sprites: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            data = self._read()
            self.pages, self.sprites = data.get("pages", {}), data.get("sprites", {})
        elif root.is_dir() and any(p.name != JOBS_CACHE for p in root.iterdir()):
            raise ConfigError(
                f"atlas out {root} is not empty and holds no {NAME}; choose a new or empty folder"
            )
        self.dataset = str(dataset)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read {self.path} ({err}); delete the atlas folder") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{self.path} is not an atlas manifest; choose another out folder")
        if data.get("version") != VERSION:  # another layout: delete its files, rebuild all
            tables = [t for t in data.values() if isinstance(t, dict)]
            items = [i for t in tables for i in t.values() if isinstance(i, dict)]
            self.delete_files([f for item in items for f in item.get("files", [])])
            return {}
        return data

    def fresh(self, table: str, name: str, key: str) -> bool:
        """Whether ``name`` in ``table`` (pages, sprites) was built from ``key``; files exist."""
        item = getattr(self, table).get(name)
        if item is None or item["key"] != key:
            return False
        return all((self.root / f).is_file() for f in item["files"])

    def remove_stale(self, table: str, keep: set[str]) -> int:
        """Delete the files of the items of ``table`` not in ``keep``; return how many items."""
        items = getattr(self, table)
        stale = [name for name in items if name not in keep]
        for name in stale:
            self.delete_files(items.pop(name)["files"])
        return len(stale)

    def delete_files(self, files: list[str]) -> None:
        """Delete built files (and the per-job folders of older layouts left empty)."""
        for file in files:
            path = self.root / file
            path.unlink(missing_ok=True)
            if path.parent.parent.name == "thumbs" and not any(path.parent.iterdir()):
                shutil.rmtree(path.parent)

    def save(self) -> None:
        """Write the manifest atomically (unless it is unchanged)."""
        data = {"format": FORMAT, "version": VERSION, "dataset": self.dataset,
                "pages": self.pages, "sprites": self.sprites}
        text = json.dumps(data, sort_keys=True)
        if self.path.is_file() and self.path.read_text(encoding="utf-8") == text:
            return
        tmp = self.path.with_name(f".{NAME}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
