"""Inline SVG histograms of a band's activations."""

from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT, AXIS = 160, 56, 12


def number(value: float | None, digits: int = 4) -> str:
    """A compact number for labels (``-`` for missing)."""
    return "-" if value is None else f"{value:.{digits}g}"


def histogram(values: np.ndarray, lo: float, hi: float, bins: int, caption: str = "") -> str:
    """An SVG bar chart of ``values`` in ``bins`` equal bins over [lo, hi] (clipped)."""
    counts, edges = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    top = max(int(counts.max()) if counts.size else 0, 1)
    width = WIDTH / bins
    plot = HEIGHT - AXIS
    bars = []
    for i, count in enumerate(counts.tolist()):
        h = plot * count / top
        tip = f"{count} in [{number(edges[i])}, {number(edges[i + 1])}]"
        bars.append(
            f'<rect x="{i * width:.2f}" y="{plot - h:.2f}" width="{max(width - 1, 0.5):.2f}" '
            f'height="{h:.2f}"><title>{escape(tip)}</title></rect>'
        )
    label = escape(caption)
    return (
        f'<svg class="hist" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{label} histogram of activations">'
        + "".join(bars)
        + f'<line x1="0" y1="{plot}" x2="{WIDTH}" y2="{plot}"/>'
        f'<text x="0" y="{HEIGHT - 1}">{escape(number(lo))}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 1}" text-anchor="end">{escape(number(hi))}</text>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 1}" text-anchor="middle">{label}</text>'
        "</svg>"
    )
