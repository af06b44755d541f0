"""Human names of units: a labels file, the preset's class names, or ``layer:unit``."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError

# The output layer of each zoo preset and the function of ``pipeline.zoo.labels`` naming its
# units. Looked up by name so that a missing or changed zoo degrades to ``layer:unit``.
PRESET_LABELS = {
    "faces": ("classifier.1", "imagenet_labels"),
    "imagenet": ("classifier.1", "imagenet_labels"),
    "mnist": ("fc7", "digit_labels"),
}


def _zoo_labels(function: str) -> list[str] | None:
    """``pipeline.zoo.labels.<function>()``, or ``None`` when the zoo cannot provide it."""
    try:
        from pipeline.zoo import labels as zoo_labels

        return list(getattr(zoo_labels, function)())
    except Exception:  # noqa: BLE001 - any failure of an optional source means "no labels"
        return None


def read_labels_file(path: str | Path) -> list[str]:
    """One label per line (blank lines kept as empty labels; the final newline ignored)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read the atlas labels file {path} ({err}); fix labels") from None
    return text.rstrip("\n").split("\n")


class Labels:
    """``labels(preset, layer, unit) -> name or None`` with per-preset caching."""

    def __init__(self, file: str | Path | None = None, layer: str | None = None) -> None:
        self._file = read_labels_file(file) if file is not None else None
        self._file_layer = layer
        self._cache: dict[str, tuple[str, list[str]] | None] = {}

    def _names(self, preset: str | None) -> tuple[str, list[str]] | None:
        key = preset or ""
        if key not in self._cache:
            known = PRESET_LABELS.get(key)
            if self._file is not None:
                layer = self._file_layer or (known[0] if known else None)
                if layer is None:
                    raise ConfigError(
                        f"atlas labels: preset {preset!r} has no known output layer; "
                        "set labels_layer to the layer the labels file names"
                    )
                self._cache[key] = (layer, self._file)
            elif known is not None:
                names = _zoo_labels(known[1])
                self._cache[key] = (known[0], names) if names else None
            else:
                self._cache[key] = None
        return self._cache[key]

    def __call__(self, preset: str | None, layer: str, unit: int) -> str | None:
        """The name of ``unit`` of ``layer`` under ``preset``, if one is known."""
        names = self._names(preset)
        if names is None or names[0] != layer or not 0 <= unit < len(names[1]):
            return None
        return names[1][unit] or None

