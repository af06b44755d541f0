"""The atlas: a static HTML site for browsing a sweep dataset band by band (docs/atlas.md).

Command line::

    python -m pipeline.atlas dataset=outputs/demo            # -> outputs/demo_atlas/index.html

Python::

    from pipeline import atlas
    index = atlas.build("outputs/demo")                      # Path of index.html
"""

from pipeline.atlas.build import build, default_out
from pipeline.atlas.config import build_from_config, compose
from pipeline.atlas.settings import AtlasSettings, Filters

__all__ = ["AtlasSettings", "Filters", "build", "build_from_config", "compose", "default_out"]
