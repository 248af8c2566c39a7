"""Backbones (functional ``keras.Model``s mapping inputs to class logits) and their registry.

Every module below registers its builders with :func:`register_backbone`; build any of them with
``build_backbone(name, input_shape, num_classes, **kwargs)``.
"""

from ssl_pipelines.models.registry import available_backbones, build_backbone, register_backbone
from ssl_pipelines.models.mlp import mlp
from ssl_pipelines.models.cnn import conv_large, small_cnn

__all__ = ["available_backbones", "build_backbone", "conv_large", "mlp", "register_backbone", "small_cnn"]
