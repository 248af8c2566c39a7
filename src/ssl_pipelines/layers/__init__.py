"""Reusable, serializable Keras layers (registered under the ``ssl_pipelines`` package name)."""

from ssl_pipelines.layers.inversion import InversionReconstruction, invert
from ssl_pipelines.layers.pooling import MaxPoolingWithSwitches
from ssl_pipelines.layers.pseudo_labels import PseudoLabelTable
from ssl_pipelines.layers.sampling import GaussianSampling
from ssl_pipelines.layers.unpooling import MaxUnpooling

__all__ = [
    "GaussianSampling",
    "InversionReconstruction",
    "MaxPoolingWithSwitches",
    "MaxUnpooling",
    "PseudoLabelTable",
    "invert",
]
