"""What an atlas build shows and which part of the dataset it covers (conf/atlas.yaml)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ConfigError

SELECT_ON = ("code", "image")
MAPS = ("pca", "umap")


@dataclass(frozen=True)
class Filters:
    """Which jobs enter the atlas; ``None`` means no restriction.

    ``targets`` are shell patterns (``fnmatch``) matched against a job's target
    (``layer:unit`` or an intersection's name) and its label.
    """

    layers: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    sweeps: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AtlasSettings:
    """Options of :func:`pipeline.atlas.build` (the same keys as conf/atlas.yaml)."""

    per_band: int = 10  # samples shown per band on the entry page, most diverse first
    select_on: str = "code"  # farthest-point selection on the stored codes or on tiny images
    thumb_max: int = 128  # larger images are downscaled to this side in the thumbnail files
    thumb_px: int = 96  # displayed side of a thumbnail on the pages
    bins: int = 20  # bins of each band's activation histogram
    page_size: int = 50  # index rows per page
    figure: bool = True  # write a PNG grid per neuron (bands as rows)
    figure_per_row: int = 10
    figure_scale: int = 2  # integer upscaling of the figure's images (and >= 96 px a side)
    labels: str | None = None  # text file, one label per line, for ``labels_layer``'s units
    labels_layer: str | None = None  # the layer those labels name (default: the preset's output)
    map: str = "pca"  # the map's projection of the E-features: pca, or umap (umap-learn)
    workers: int = 0  # processes rendering entries; 0: one per CPU
    progress_seconds: float = 2.0
    filters: Filters = field(default_factory=Filters)

    def __post_init__(self) -> None:
        positive = ("per_band", "thumb_max", "thumb_px", "bins", "page_size", "figure_per_row",
                    "figure_scale")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"atlas {name} must be a positive int, got {value!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"atlas workers must be an int >= 0 (0: one per CPU), got "
                              f"{self.workers!r}")
        if self.map not in MAPS:
            raise ConfigError(f"atlas map must be one of {MAPS}, got {self.map!r}")
        if self.map == "umap" and importlib.util.find_spec("umap") is None:
            raise ConfigError("atlas map=umap needs umap-learn; pip install umap-learn, "
                              "or use map=pca")
        if self.select_on not in SELECT_ON:
            raise ConfigError(f"atlas select_on must be one of {SELECT_ON}, got {self.select_on!r}")
        if self.labels_layer is not None and self.labels is None:
            raise ConfigError("atlas labels_layer is set without labels; give a labels file too")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AtlasSettings:
        """Settings from plain config values; unknown keys raise ConfigError."""
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown atlas settings {unknown}; valid: {sorted(known)}")
        raw = values.pop("filters", None) or {}
        if not isinstance(raw, dict):
            raise ConfigError("atlas filters must be a mapping of layers, targets, sweeps")
        wrong = sorted(set(raw) - {f.name for f in dataclasses.fields(Filters)})
        if wrong:
            raise ConfigError(f"unknown atlas filters {wrong}; valid: layers, targets, sweeps")
        filters = {}
        for key, value in raw.items():
            if value is not None and (isinstance(value, str) or not hasattr(value, "__iter__")):
                raise ConfigError(f"atlas filters.{key} must be a list of strings or null")
            filters[key] = None if value is None else tuple(str(v) for v in value)
        return cls(**values, filters=Filters(**filters))

    def fingerprint(self, *names: str) -> str:
        """A short hash of the named settings (all when none are named)."""
        data = dataclasses.asdict(self)
        chosen = {k: data[k] for k in names} if names else data
        text = json.dumps(chosen, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
