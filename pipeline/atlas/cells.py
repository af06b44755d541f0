"""Thumbnails as cells of a sprite sheet, and the head shared by the atlas's HTML pages.

Every piece of text that comes from a dataset or a config goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape

from pipeline.atlas.samples import BandSamples
from pipeline.atlas.sprites import Sheet
from pipeline.atlas.svg import number


def tip(band: BandSamples, i: int) -> str:
    """The hover text of the sample at position ``i``: activation(s), index, phase, chain."""
    acts = band.activations[i].tolist()
    name = "activation" if len(acts) == 1 else "activations"
    return (
        f"{name} {', '.join(number(a, 6) for a in acts)} | sample {int(band.samples[i])} | "
        f"{band.phase[i]} step {int(band.step[i])} | chain {int(band.chain[i])}"
    )


def cell(band: BandSamples, sheet: Sheet, i: int, px: int) -> str:
    """A thumbnail of ``px`` pixels: the sheet as a scaled background, shifted to slot ``i``
    (the enclosing element's ``data-job`` names the band, for the zoom script)."""
    col, row = i % sheet.cols, i // sheet.cols
    style = (f"background-image:url(../{sheet.path});background-size:{sheet.cols * px}px auto;"
             f"background-position:-{col * px}px -{row * px}px")
    text = escape(tip(band, i))
    return (f'<span class="cell" role="img" tabindex="0" data-i="{i}" '
            f'title="{text}" aria-label="{text}" style="{escape(style)}"></span>')


def head(title: str, thumb_px: int, body_class: str, data: str = "") -> str:
    """The start of a page under ``pages/`` or ``bands/`` up to ``<body>``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - inverse-set atlas</title>
<link rel="stylesheet" href="../assets/atlas.css">
</head>
<body class="{body_class}" style="--thumb: {thumb_px}px"{data}>
"""


def scripts(data_file: str, *assets: str) -> str:
    """The page's data script and asset scripts, at the end of ``<body>``."""
    tags = [f'<script src="../{escape(data_file)}"></script>']
    tags += [f'<script src="../assets/{escape(a)}"></script>' for a in assets]
    zoom = '<div id="zoom" hidden><div class="zoombox"><span class="big"></span><p></p></div></div>'
    return zoom + "\n" + "\n".join(tags) + "\n</body></html>\n"
