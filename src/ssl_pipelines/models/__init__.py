"""Backbones (functional ``keras.Model``s mapping inputs to class logits) and their registry.

Every module below registers its builders on definition with ``@register_backbone(name)``;
build any of them with ``build_backbone(name, input_shape, num_classes, **kwargs)``.
"""

from ssl_pipelines.models.cnn import conv_large, small_cnn
from ssl_pipelines.models.hybrid_nets import build_hybrid_branches, compose_classifier, hybrid_convlarge, hybrid_resnet
from ssl_pipelines.models.inversion_nets import (
    conv1d_bird10,
    inv_large_cnn,
    inv_resnet2_32,
    inv_resnet3_16,
    inv_small_cnn,
)
from ssl_pipelines.models.lenet import lenet
from ssl_pipelines.models.mlp import mlp
from ssl_pipelines.models.registry import available_backbones, build_backbone, register_backbone
from ssl_pipelines.models.resnet import resnet
from ssl_pipelines.models.vae import conditional_gaussian_encoder, decoder, gaussian_encoder
from ssl_pipelines.models.vgg import build_vgg16_decoders, load_vgg16_weights, vgg16, vgg16_feature_model

__all__ = [
    "available_backbones",
    "build_backbone",
    "build_hybrid_branches",
    "build_vgg16_decoders",
    "compose_classifier",
    "conditional_gaussian_encoder",
    "conv1d_bird10",
    "conv_large",
    "decoder",
    "gaussian_encoder",
    "hybrid_convlarge",
    "hybrid_resnet",
    "inv_large_cnn",
    "inv_resnet2_32",
    "inv_resnet3_16",
    "inv_small_cnn",
    "lenet",
    "load_vgg16_weights",
    "mlp",
    "register_backbone",
    "resnet",
    "small_cnn",
    "vgg16",
    "vgg16_feature_model",
]
