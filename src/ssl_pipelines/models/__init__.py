"""Backbones (functional ``keras.Model``s mapping inputs to class logits) and their registry.

Every module below registers its builders with :func:`register_backbone`; build any of them with
``build_backbone(name, input_shape, num_classes, **kwargs)``.
"""

from ssl_pipelines.models.registry import available_backbones, build_backbone, register_backbone
from ssl_pipelines.models.mlp import mlp
from ssl_pipelines.models.cnn import conv_large, small_cnn

__all__ = ["available_backbones", "build_backbone", "conv_large", "mlp", "register_backbone", "small_cnn"]

from ssl_pipelines.models.lenet import lenet  # noqa: E402
from ssl_pipelines.models.resnet import resnet  # noqa: E402

__all__ += ["lenet", "resnet"]
from ssl_pipelines.models.vae import conditional_gaussian_encoder, decoder, gaussian_encoder  # noqa: E402

__all__ += ["conditional_gaussian_encoder", "decoder", "gaussian_encoder"]
from ssl_pipelines.models.vgg import build_vgg16_decoders, load_vgg16_weights, vgg16, vgg16_feature_model  # noqa: E402

__all__ += ["build_vgg16_decoders", "load_vgg16_weights", "vgg16", "vgg16_feature_model"]

from ssl_pipelines.models.inversion_nets import (  # noqa: E402
    conv1d_bird10,
    inv_large_cnn,
    inv_resnet2_32,
    inv_resnet3_16,
    inv_small_cnn,
)

__all__ += ["conv1d_bird10", "inv_large_cnn", "inv_resnet2_32", "inv_resnet3_16", "inv_small_cnn"]

from ssl_pipelines.models.hybrid_nets import build_hybrid_branches, compose_classifier, hybrid_convlarge, hybrid_resnet  # noqa: E402

__all__ += ["build_hybrid_branches", "compose_classifier", "hybrid_convlarge", "hybrid_resnet"]
