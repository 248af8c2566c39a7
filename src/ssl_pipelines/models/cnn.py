"""Convolutional classifiers: a small CNN and ConvLarge (the 13-layer "CNN-13" of Ladder,
Temporal Ensembling, Mean Teacher, HybridNet and R2-D2; METHODS.md §1.1, §4.4)."""

from __future__ import annotations

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.models.registry import register_backbone
from ssl_pipelines.models.regularization import dropout as dropout_layer, gaussian_noise as noise_layer


def _pool(kind: str, name: str):
    if kind == "max":
        return keras.layers.MaxPooling2D(2, name=name)
    if kind in ("avg", "mean"):
        return keras.layers.AveragePooling2D(2, name=name)
    raise ConfigError(f"pooling must be 'max' or 'mean', got {kind!r}")


@register_backbone("small_cnn")
def small_cnn(
    input_shape,
    num_classes: int,
    filters=(32, 64),
    dense_units: int = 128,
    pooling: str = "max",
    dropout: float = 0.25,
    name: str = "small_cnn",
) -> keras.Model:
    """[Conv3x3(f) -> ReLU -> Pool2] per entry of ``filters`` -> Dense(dense_units) -> Dense(C)."""
    inputs = keras.Input(input_shape, name="x")
    h = inputs
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(int(f), 3, padding="same", activation="relu", name=f"conv_{i}")(h)
        if min(h.shape[1], h.shape[2]) >= 2:
            h = _pool(pooling, f"pool_{i}")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(int(dense_units), activation="relu", name="dense")(h)
    if dropout:
        h = dropout_layer(dropout)(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)


@register_backbone("conv_large")
def conv_large(
    input_shape,
    num_classes: int,
    width: float = 1.0,
    batch_norm: bool = True,
    dropout: float = 0.5,
    input_noise: float = 0.15,
    pooling: str = "max",
    name: str = "conv_large",
) -> keras.Model:
    """ConvLarge / CNN-13 (Laine & Aila 2017; Tarvainen & Valpola 2017), widths scaled by ``width``.

    Gaussian noise -> 3x[Conv3x3(128)] -> Pool -> Dropout -> 3x[Conv3x3(256)] -> Pool -> Dropout
    -> Conv3x3(512, valid) -> Conv1x1(256) -> Conv1x1(128) -> GlobalAvgPool -> Dense(C), each
    conv followed by batch norm (optional) and LeakyReLU(0.1).
    """
    w = lambda c: max(1, int(round(c * width)))  # noqa: E731
    inputs = keras.Input(input_shape, name="x")
    h = noise_layer(input_noise)(inputs) if input_noise else inputs

    def conv(h, c, k, padding, name):
        h = keras.layers.Conv2D(w(c), k, padding=padding, use_bias=not batch_norm, name=name)(h)
        if batch_norm:
            h = keras.layers.BatchNormalization(name=f"{name}_bn")(h)
        return keras.layers.LeakyReLU(0.1)(h)

    for block, c in enumerate((128, 256)):
        for j in range(3):
            h = conv(h, c, 3, "same", f"conv{block + 1}_{j}")
        h = _pool(pooling, f"pool{block + 1}")(h)
        if dropout:
            h = dropout_layer(dropout)(h)
    h = conv(h, 512, 3, "valid" if min(h.shape[1], h.shape[2]) >= 3 else "same", "conv3_0")
    h = conv(h, 256, 1, "same", "conv3_1")
    h = conv(h, 128, 1, "same", "conv3_2")
    h = keras.layers.GlobalAveragePooling2D()(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)
