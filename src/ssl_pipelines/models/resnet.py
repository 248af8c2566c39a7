"""CIFAR-style ResNet for 32x32 inputs (He et al. 2016, §4.2: depth ``6n + 2``, three stages of
16/32/64 channels), widened by ``width``. R2-D2 uses a ResNet-18 on ImageNet and Shake-Shake on
CIFAR-10 (METHODS.md §4.4); this is the residual backbone that fits a CPU budget."""

from __future__ import annotations

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.models.registry import register_backbone


def _bn_relu(h, name: str):
    h = keras.layers.BatchNormalization(name=f"{name}_bn")(h)
    return keras.layers.ReLU(name=f"{name}_relu")(h)


@register_backbone("resnet")
def resnet(
    input_shape,
    num_classes: int,
    depth: int = 20,
    width: int = 1,
    base_filters: int = 16,
    weight_decay: float = 0.0,
    name: str = "resnet",
) -> keras.Model:
    """Pre-activation ResNet-``depth`` (basic blocks) -> global average pool -> Dense(C).

    Args:
        depth: ``6n + 2`` (20, 32, 44, 56, 110; 8 is the smallest).
        width: channel multiplier of the stages ``base_filters * (1, 2, 4)`` (WRN-style widening).
        base_filters: channels of the first stage (16).
        weight_decay: L2 kernel regularization (0 = none; use the optimizer's weight decay instead).
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"resnet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, ...), got {depth!r}")
    if int(width) < 1 or int(base_filters) < 1:
        raise ConfigError(f"resnet width and base_filters must be positive integers, got {width!r}, {base_filters!r}")
    n = (depth - 2) // 6
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    conv = lambda c, k, s, nm: keras.layers.Conv2D(  # noqa: E731
        c, k, strides=s, padding="same", use_bias=False, kernel_regularizer=reg, name=nm)

    inputs = keras.Input(input_shape, name="x")
    h = conv(int(base_filters) * int(width), 3, 1, "stem")(inputs)
    for stage in range(3):
        channels = int(base_filters) * int(width) * 2**stage
        for block in range(n):
            nm = f"s{stage}_b{block}"
            stride = 2 if (stage > 0 and block == 0 and min(h.shape[1], h.shape[2]) >= 2) else 1
            pre = _bn_relu(h, f"{nm}_pre")
            shortcut = h
            if stride != 1 or h.shape[-1] != channels:
                shortcut = conv(channels, 1, stride, f"{nm}_proj")(pre)
            r = conv(channels, 3, stride, f"{nm}_conv1")(pre)
            r = _bn_relu(r, f"{nm}_mid")
            r = conv(channels, 3, 1, f"{nm}_conv2")(r)
            h = keras.layers.Add(name=f"{nm}_add")([shortcut, r])
    h = _bn_relu(h, "final")
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(h)
    return keras.Model(inputs, logits, name=name)
