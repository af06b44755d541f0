"""The map of an entry: every sample of every band placed in 2-D by its E-features.

One projection per entry (all bands together), so the bands' positions can be compared.
PCA (numpy SVD) by default; UMAP (``umap-learn``) when asked for and installed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pipeline.errors import ConfigError

METHODS = ("pca", "umap")


def _pca(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    if centred.shape[0] < 2 or not np.any(centred):
        return np.zeros((x.shape[0], 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap  # optional: pip install umap-learn
    except ImportError:
        raise ConfigError("atlas map=umap needs umap-learn; pip install umap-learn, "
                          "or use map=pca") from None
    if x.shape[0] < 4:
        return _pca(x)
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, x.shape[0] - 1), random_state=seed)
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def _unit_square(points: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] on both axes with the same factor (keeps the shape)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = float((hi - lo).max()) or 1.0
    centre = (lo + hi) / 2
    return (points - centre) / span + 0.5


def project(features: list[np.ndarray], method: str = "pca", seed: int = 0) -> list[np.ndarray]:
    """2-D positions in [0, 1]^2 for each band's (n_b, d) features, in one common projection.

    Bands whose feature width differs from the most common one (another sweep's encoder)
    get NaN positions and are left off the map.
    """
    if method not in METHODS:
        raise ConfigError(f"atlas map must be one of {METHODS}, got {method!r}")
    widths = Counter(f.shape[1] for f in features if len(f))
    if not widths:
        return [np.zeros((len(f), 2)) for f in features]
    width = widths.most_common(1)[0][0]
    kept = [f for f in features if len(f) and f.shape[1] == width]
    x = np.concatenate(kept).astype(np.float64)
    flat = _umap(x, seed) if method == "umap" else _pca(x)
    flat = _unit_square(flat)
    out, start = [], 0
    for f in features:
        if len(f) and f.shape[1] == width:
            out.append(flat[start:start + len(f)])
            start += len(f)
        else:
            out.append(np.full((len(f), 2), np.nan))
    return out
