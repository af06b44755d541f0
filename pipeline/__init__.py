"""Inverse-set sampling of neurons: diverse inputs whose activations lie inside chosen bands.

The notebook API::

    import pipeline
    f = pipeline.neuron(model, "classifier.1", 981)
    E = pipeline.encoder(model, "features.18")
    s = pipeline.InverseSetSampler(generator=G, encoder=E, constraints=[(f, 5.0, 10.0)], k=10)
    result = s.sample(100, seed=0)
"""

from pipeline.errors import ConfigError
from pipeline.models.generators import FourierGenerator, PixelGenerator
from pipeline.models.neurons import LayerEncoder, Neuron, encoder, neuron
from pipeline.models.transforms import RandomTransforms
from pipeline.sampler import InverseSetSampler, Problem, SamplerConfig, SampleSet, sample_problems

__all__ = [
    "ConfigError",
    "FourierGenerator",
    "InverseSetSampler",
    "LayerEncoder",
    "Neuron",
    "PixelGenerator",
    "Problem",
    "RandomTransforms",
    "SampleSet",
    "SamplerConfig",
    "encoder",
    "neuron",
    "sample_problems",
]
