"""LeNet-style classifier for MNIST-sized inputs (R2-D2's illustrative MNIST experiment,
METHODS.md §4.5: a LeNet whose penultimate layer can be a 2-D fully-connected layer)."""

from __future__ import annotations

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.models.registry import register_backbone
from ssl_pipelines.models.regularization import dropout as dropout_layer


@register_backbone("lenet")
def lenet(
    input_shape,
    num_classes: int,
    filters=(20, 50),
    kernel_size: int = 5,
    dense_units: int = 500,
    embedding_units: int | None = None,
    padding: str = "valid",
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "lenet",
) -> keras.Model:
    """Caffe's LeNet: [Conv(k x k, f) -> MaxPool2] per entry of ``filters`` -> Dense(dense_units)
    -> [Dense(embedding_units), linear] -> Dense(C).

    Args:
        filters: channels of each conv block (Caffe LeNet: 20, 50).
        kernel_size: conv kernel (5).
        dense_units: hidden fully-connected units (500).
        embedding_units: optional extra linear layer before the logits (2 reproduces the paper's
            2-D feature visualization network).
        padding: ``valid`` (original, needs 28x28 inputs) or ``same`` (any size, e.g. 8x8
            digits). With ``valid`` a block whose input is smaller than the kernel falls back to
            ``same``.
        activation: of the conv and dense layers.
        dropout: before the logits layer.
    """
    if padding not in ("valid", "same"):
        raise ConfigError(f"lenet padding must be 'valid' or 'same', got {padding!r}")
    inputs = keras.Input(input_shape, name="x")
    h = inputs
    for i, f in enumerate(filters):
        pad = padding if min(h.shape[1], h.shape[2]) >= kernel_size else "same"
        h = keras.layers.Conv2D(int(f), int(kernel_size), padding=pad, activation=activation, name=f"conv_{i}")(h)
        if min(h.shape[1], h.shape[2]) >= 2:
            h = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(int(dense_units), activation=activation, name="dense")(h)
    if embedding_units:
        h = keras.layers.Dense(int(embedding_units), name="embedding")(h)
    if dropout:
        h = dropout_layer(float(dropout), name="dropout")(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)
