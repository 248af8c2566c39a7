"""Batch-norm-free backbones of the inversion paper (Balestriero et al. 2017, METHODS.md §2.3):
SmallCNN, LargeCNN, Resnet2-32, Resnet3-16 (mean or max pooling) and the 1-D Bird10 net.

All are piecewise affine in their input (ReLU, max/mean pooling, identity shortcuts, no batch
norm: the paper's Appendix A.2), so :func:`ssl_pipelines.layers.inversion.invert` gives exact
templates. The paper's exact layer lists were in an appendix that was not recovered
(METHODS.md §2.3 "unknown"); the layer lists below are reconstructions, documented per builder.
The names are distinct from the shared ``small_cnn``/``conv_large`` builders.
"""

from __future__ import annotations

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.models.registry import register_backbone
from ssl_pipelines.models.regularization import dropout as dropout_layer

POOLINGS = ("max", "mean")


def _check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    return pooling


def _pool2d(pooling: str, name: str):
    cls = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    return cls(2, name=name)


def _global_pool(pooling: str, name: str):
    cls = keras.layers.GlobalMaxPooling2D if pooling == "max" else keras.layers.GlobalAveragePooling2D
    return cls(name=name)


def _check_image_input(input_shape, name: str):
    if len(input_shape) != 3:
        raise ConfigError(f"backbone {name!r} needs (H, W, C) images, got input shape {tuple(input_shape)}")


@register_backbone("inv_small_cnn")
def inv_small_cnn(input_shape, num_classes: int, filters=(32, 64), kernel_size: int = 3, pooling: str = "max",
                  global_pool: bool = False, dropout: float = 0.0, name: str = "inv_small_cnn") -> keras.Model:
    """SmallCNN [?]: ``[Conv(k x k, f) -> ReLU -> Pool2]`` per entry of ``filters`` ->
    Flatten (or a global pool with ``global_pool``) -> Dense(C). BN free; ``pooling`` is ``max``
    or ``mean``."""
    _check_image_input(input_shape, name)
    pooling = _check_pooling(pooling)
    inputs = keras.Input(input_shape, name="x")
    h = inputs
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(int(f), int(kernel_size), padding="same", activation="relu", name=f"conv_{i}")(h)
        if min(h.shape[1], h.shape[2]) >= 2:
            h = _pool2d(pooling, f"pool_{i}")(h)
    h = _global_pool(pooling, "global_pool")(h) if global_pool else keras.layers.Flatten(name="flatten")(h)
    if dropout:
        h = dropout_layer(float(dropout), name="dropout")(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)


@register_backbone("inv_large_cnn")
def inv_large_cnn(input_shape, num_classes: int, width: float = 1.0, pooling: str = "max", dropout: float = 0.0,
                  name: str = "inv_large_cnn") -> keras.Model:
    """LargeCNN [?]: the ConvLarge layout without batch norm, ReLU activations:
    ``3x Conv3x3(96) -> Pool -> 3x Conv3x3(192) -> Pool -> Conv3x3(192) -> Conv1x1(192) ->
    Conv1x1(C) -> global pool`` (widths scaled by ``width``)."""
    _check_image_input(input_shape, name)
    pooling = _check_pooling(pooling)
    w = lambda c: max(1, int(round(c * float(width))))  # noqa: E731
    inputs = keras.Input(input_shape, name="x")
    h = inputs
    for block, c in enumerate((96, 192)):
        for j in range(3):
            h = keras.layers.Conv2D(w(c), 3, padding="same", activation="relu", name=f"conv{block + 1}_{j}")(h)
        if min(h.shape[1], h.shape[2]) >= 2:
            h = _pool2d(pooling, f"pool{block + 1}")(h)
        if dropout:
            h = dropout_layer(float(dropout), name=f"dropout{block + 1}")(h)
    h = keras.layers.Conv2D(w(192), 3, padding="same", activation="relu", name="conv3_0")(h)
    h = keras.layers.Conv2D(w(192), 1, activation="relu", name="conv3_1")(h)
    h = keras.layers.Conv2D(num_classes, 1, name="conv3_2")(h)
    logits = _global_pool(pooling, "logits")(h)
    return keras.Model(inputs, logits, name=name)


def _resnet(input_shape, num_classes: int, depth: int, width: int, pooling: str, dropout: float, name: str):
    """Resnet{depth}-{width} [?]: stem Conv3x3(width) -> 3 stages of ``depth`` BN-free residual
    blocks ``h + Conv3x3(ReLU(Conv3x3(ReLU(h))))`` with widths ``width, 2 width, 4 width`` (a 1x1
    projection where the width changes), pooling between stages -> ReLU -> global pool ->
    Dense(C). Reading "Resnet2-32" as depth 2, width 32 follows METHODS.md §2.3 [?]."""
    _check_image_input(input_shape, name)
    pooling = _check_pooling(pooling)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"resnet depth must be a positive integer, got {depth!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"resnet width must be a positive integer, got {width!r}")
    inputs = keras.Input(input_shape, name="x")
    h = keras.layers.Conv2D(width, 3, padding="same", name="stem")(inputs)
    for stage, mult in enumerate((1, 2, 4)):
        c = width * mult
        if stage > 0 and min(h.shape[1], h.shape[2]) >= 2:
            h = _pool2d(pooling, f"pool{stage}")(h)
        for b in range(depth):
            prefix = f"stage{stage + 1}_block{b + 1}"
            shortcut = h
            if h.shape[-1] != c:
                shortcut = keras.layers.Conv2D(c, 1, name=f"{prefix}_proj")(h)
            r = keras.layers.ReLU(name=f"{prefix}_relu1")(h)
            r = keras.layers.Conv2D(c, 3, padding="same", name=f"{prefix}_conv1")(r)
            r = keras.layers.ReLU(name=f"{prefix}_relu2")(r)
            r = keras.layers.Conv2D(c, 3, padding="same", name=f"{prefix}_conv2")(r)
            h = keras.layers.Add(name=f"{prefix}_add")([shortcut, r])
    h = keras.layers.ReLU(name="final_relu")(h)
    h = _global_pool(pooling, "global_pool")(h)
    if dropout:
        h = dropout_layer(float(dropout), name="dropout")(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)


@register_backbone("inv_resnet2_32")
def inv_resnet2_32(input_shape, num_classes: int, depth: int = 2, width: int = 32, pooling: str = "max",
                   dropout: float = 0.0, name: str = "inv_resnet2_32") -> keras.Model:
    """Resnet2-32 (the paper's best MNIST model with max pooling: 99.14% at 50 labels). See
    :func:`_resnet`."""
    return _resnet(input_shape, num_classes, depth, width, pooling, dropout, name)


@register_backbone("inv_resnet3_16")
def inv_resnet3_16(input_shape, num_classes: int, depth: int = 3, width: int = 16, pooling: str = "max",
                   dropout: float = 0.0, name: str = "inv_resnet3_16") -> keras.Model:
    """Resnet3-16. See :func:`_resnet`."""
    return _resnet(input_shape, num_classes, depth, width, pooling, dropout, name)


@register_backbone("conv1d_bird10")
def conv1d_bird10(input_shape, num_classes: int, filters: int = 42, kernel_size: int = 1024, strides: int = 512,
                  pool_size: int = 4, pool_strides: int = 2, filters2: int = 42, kernel_size2: int = 3,
                  strides2: int = 2, dense_units: int = 32, dropout: float = 0.5,
                  name: str = "conv1d_bird10") -> keras.Model:
    """The Bird10 1-D topology (METHODS.md §2.3 [source]):
    ``Conv1D(42, 1024, stride 512) -> ReLU -> MaxPool1D(4, stride 2) -> Conv1D(42, 3, stride 2) -> ReLU
    -> Dense(32) -> ReLU -> Dropout(0.5) -> Dense(C)``.

    The defaults are the paper's (raw audio); short signals need smaller kernels/strides (e.g.
    MNIST-1D, length 40: ``kernel_size=5, strides=1``). Input ``(L, C)`` signals.
    """
    if len(input_shape) != 2:
        raise ConfigError(f"backbone {name!r} needs (L, C) signals, got input shape {tuple(input_shape)}")
    length = int(input_shape[0])
    after1 = (length - int(kernel_size)) // int(strides) + 1
    after_pool = (after1 - int(pool_size)) // int(pool_strides) + 1
    after2 = (after_pool - int(kernel_size2)) // int(strides2) + 1
    if after1 < 1 or after_pool < 1 or after2 < 1:
        raise ConfigError(
            f"conv1d_bird10: signals of length {length} are too short for kernel_size={kernel_size}, "
            f"strides={strides}, pool_size={pool_size}, kernel_size2={kernel_size2}; use smaller kernels/strides")
    inputs = keras.Input(input_shape, name="x")
    h = keras.layers.Conv1D(int(filters), int(kernel_size), strides=int(strides), activation="relu", name="conv1")(inputs)
    h = keras.layers.MaxPooling1D(int(pool_size), strides=int(pool_strides), name="pool1")(h)
    h = keras.layers.Conv1D(int(filters2), int(kernel_size2), strides=int(strides2), activation="relu", name="conv2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(int(dense_units), activation="relu", name="dense")(h)
    if dropout:
        h = dropout_layer(float(dropout), name="dropout")(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)
