"""Reusable, serializable Keras layers (registered under the ``ssl_pipelines`` package name)."""

from ssl_pipelines.layers.pooling import MaxPoolingWithSwitches
from ssl_pipelines.layers.unpooling import MaxUnpooling

__all__: list[str] = []
__all__ += ["MaxPoolingWithSwitches", "MaxUnpooling"]
from ssl_pipelines.layers.sampling import GaussianSampling  # noqa: E402
__all__ += ["GaussianSampling"]

from ssl_pipelines.layers.pseudo_labels import PseudoLabelTable  # noqa: E402
__all__ += ["PseudoLabelTable"]

from ssl_pipelines.layers.inversion import InversionReconstruction, invert  # noqa: E402
__all__ += ["InversionReconstruction", "invert"]
