"""Fully-convolutional ("dense", the paper's "convolution" column) evaluation of a VGG classifier.

METHODS.md §3.4-3.5 (Zhang, Lee & Lee 2016): besides the single centre crop, the network is run
"as a fully-convolutional operator on the full image, with the outputs averaged". We follow VGG's
dense evaluation (Simonyan & Zisserman 2015, §3.2 [mem]): the fully-connected layers are turned
into convolutions (fc6 -> a ``k x k`` conv, ``k`` = the encoder's output size at the training
resolution, 7 for 224x224; fc7 / fc8 -> 1x1 convs), the network is applied to the whole image
rescaled so its shorter side is ``Q``, the class score map is averaged spatially, and the
posteriors of several scales ``Q`` and of the horizontally flipped image are averaged.

:func:`convolutionalize` builds the fully-convolutional network from a trained backbone by
reshaping the Dense kernels (no retraining; at the training input size it gives the backbone's
logits exactly); :func:`dense_class_scores` / :func:`dense_predict` do the averaging.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.data.image_files import resize_shorter_side
from ssl_pipelines.layers import MaxPoolingWithSwitches

AVERAGES = ("softmax", "logits")
_POOLS = (MaxPoolingWithSwitches, keras.layers.MaxPooling2D)
_SKIPPED = (keras.layers.Dropout, keras.layers.InputLayer)


def _clone(layer: keras.layers.Layer) -> keras.layers.Layer:
    return type(layer).from_config(layer.get_config())


def convolutionalize(backbone: keras.Model, name: str | None = None) -> keras.Model:
    """The fully-convolutional twin of a chain ``conv/pool -> Flatten -> Dense...`` classifier.

    Made for :func:`ssl_pipelines.models.vgg16` (any width / blocks / preprocessing); other
    registry backbones with the same chain structure work too. Convolutions (including the
    frozen ``caffe_preprocess``) and max pools are copied with their weights; Dropout is dropped
    (inference); the first Dense after ``Flatten`` (fc6) becomes a VALID ``Conv2D`` whose kernel
    is the Dense kernel reshaped to ``(h, w, c, units)`` (``(h, w, c)`` = the flattened feature
    map, Keras' channels-last flatten order); every later Dense (fc7, fc8) becomes a 1x1 conv.

    Args:
        backbone: a trained classifier (inputs -> logits) whose layers form a chain.
        name: of the returned model (default ``<backbone>_dense``).

    Returns:
        A functional model ``(B, H, W, C) -> (B, H', W', num_classes)`` class-logit maps for any
        ``H, W`` at least the training size; at the training size ``H' = W' = 1`` and the logits
        equal the backbone's.

    Raises:
        ConfigError: a layer type it does not know how to convert (the message names it).
    """
    channels = int(backbone.inputs[0].shape[-1])
    inputs = keras.Input((None, None, channels), name="x")
    x = inputs
    flat_shape = None  # (h, w, c) seen by Flatten
    for layer in backbone.layers:
        if isinstance(layer, _SKIPPED):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            new = _clone(layer)
            x = new(x)
            new.set_weights(layer.get_weights())
        elif isinstance(layer, _POOLS):
            x = _clone(layer)(x)
            if isinstance(x, (tuple, list)):  # MaxPoolingWithSwitches -> (pooled, switches)
                x = x[0]
        elif isinstance(layer, keras.layers.Flatten):
            flat_shape = tuple(int(d) for d in layer.input.shape[1:])
        elif isinstance(layer, keras.layers.Dense):
            kernel, *bias = layer.get_weights()
            units = int(kernel.shape[-1])
            if flat_shape is not None:  # fc6: a conv covering the whole training-size feature map
                h, w, c = flat_shape
                kernel, size = kernel.reshape(h, w, c, units), (h, w)
                flat_shape = None
            else:
                kernel, size = kernel.reshape(1, 1, -1, units), (1, 1)
            conv = keras.layers.Conv2D(units, size, padding="valid", activation=layer.activation,
                                       use_bias=layer.use_bias, name=f"{layer.name}_conv")
            x = conv(x)
            conv.set_weights([kernel, *bias])
        else:
            raise ConfigError(
                f"convolutionalize: cannot convert layer {layer.name!r} of type {type(layer).__name__}; "
                f"expected a chain of Conv2D / max pooling / Flatten / Dense / Dropout layers (e.g. vgg16)")
    return keras.Model(inputs, x, name=name or f"{backbone.name}_dense")


def min_scale(input_shape: Sequence[int]) -> int:
    """Smallest evaluation scale ``Q`` (shorter side) for a network trained on ``input_shape``
    ``(H, W, C)``: its larger side, so the feature map covers fc6's kernel for any aspect ratio."""
    return int(max(input_shape[0], input_shape[1]))


def check_scales(scales: Sequence[int], input_shape: Sequence[int]) -> tuple[int, ...]:
    """Validate evaluation scales against the training input shape (ConfigError otherwise)."""
    if isinstance(scales, (int, str)) or not scales:
        raise ConfigError(f"dense evaluation scales must be a non-empty list of integers, got {scales!r}")
    low = min_scale(input_shape)
    out = []
    for q in scales:
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < low:
            raise ConfigError(f"dense evaluation scale {q!r} must be an integer >= {low} (the network's "
                              f"training input size), got scales {list(scales)!r}")
        out.append(int(q))
    return tuple(out)


def dense_class_scores(dense_model: keras.Model, images, scales: Sequence[int], flip: bool = True,
                       average: str = "softmax") -> tf.Tensor:
    """Class scores of a batch of equal-size images, averaged over positions, scales and flips.

    Args:
        dense_model: from :func:`convolutionalize`.
        images: ``(B, H, W, C)`` float images (any size; each is rescaled per scale).
        scales: shorter-side sizes ``Q`` the images are rescaled to (aspect ratio kept).
        flip: also evaluate the horizontally flipped images.
        average: ``"softmax"`` (VGG: average the class posteriors; the result is the log of the
            averaged posterior) or ``"logits"`` (average the raw class scores).

    Returns:
        ``(B, num_classes)`` scores (argmax / top-k ready).
    """
    if average not in AVERAGES:
        raise ConfigError(f"dense evaluation average must be one of {list(AVERAGES)}, got {average!r}")
    images = tf.convert_to_tensor(images, tf.float32)
    views = []
    for q in scales:
        x = resize_shorter_side(images, int(q))
        for view in ((x, tf.image.flip_left_right(x)) if flip else (x,)):
            maps = dense_model(view, training=False)
            if average == "softmax":
                maps = tf.nn.softmax(maps, axis=-1)
            views.append(tf.reduce_mean(maps, axis=(1, 2)))
    scores = tf.add_n(views) / float(len(views))
    return tf.math.log(tf.maximum(scores, 1e-30)) if average == "softmax" else scores


def dense_predict(dense_model: keras.Model, batches: Iterable, scales: Sequence[int], flip: bool = True,
                  average: str = "softmax") -> np.ndarray:
    """:func:`dense_class_scores` over an iterable of image batches (e.g. a ``tf.data`` stream of
    ``x`` batches; images may differ in size between batches). Returns ``(N, num_classes)``."""
    channels = int(dense_model.inputs[0].shape[-1])

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, channels), tf.float32)], reduce_retracing=True)
    def score(x):  # one trace for every image size
        return dense_class_scores(dense_model, x, scales, flip, average)

    out = [score(tf.cast(b, tf.float32)).numpy() for b in batches]
    if not out:
        return np.zeros((0, int(dense_model.outputs[0].shape[-1])), np.float32)
    return np.concatenate(out)
