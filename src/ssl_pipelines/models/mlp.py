"""Multi-layer perceptron classifier (the "NN" baseline of Kingma et al. 2014, Table 1)."""

from __future__ import annotations

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.models.registry import register_backbone
from ssl_pipelines.models.regularization import dropout as dropout_layer


#: Keras initializer names a Dense kernel may start from when no ``kernel_init_std`` is given
#: (``glorot_normal`` is PyTorch's Xavier-normal).
KERNEL_INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal")


def dense_kernel_initializer(std: float | None, initializer: str = "glorot_uniform"):
    """``N(0, std^2)`` weights if ``std`` is given (Kingma et al.'s 1e-3), else the initializer named.

    The name is passed on as a string, so each layer draws its own seed as Keras does for a name
    (an instance shared by the layers would change the weights of a seeded run).
    """
    if std is not None:
        return keras.initializers.RandomNormal(stddev=float(std))
    if initializer not in KERNEL_INITIALIZERS:
        raise ConfigError(f"kernel_initializer must be one of {list(KERNEL_INITIALIZERS)}, got {initializer!r}")
    return initializer


@register_backbone("mlp")
def mlp(
    input_shape,
    num_classes: int,
    hidden_units=(500, 500),
    activation: str = "relu",
    dropout: float = 0.0,
    kernel_init_std: float | None = None,
    kernel_initializer: str = "glorot_uniform",
    name: str = "mlp",
) -> keras.Model:
    """Flatten -> [Dense(units, activation) -> Dropout] * len(hidden_units) -> Dense(num_classes).

    Args:
        hidden_units: widths of the hidden layers.
        activation: hidden activation (``relu``, ``softplus``, ...).
        dropout: dropout rate after each hidden layer.
        kernel_init_std: if given, weights ~ N(0, std^2) (Kingma et al. use 1e-3), else
            ``kernel_initializer`` (Glorot-uniform by default).
    """
    init = dense_kernel_initializer(kernel_init_std, kernel_initializer)
    inputs = keras.Input(input_shape, name="x")
    h = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(int(units), activation=activation, kernel_initializer=init, name=f"dense_{i}")(h)
        if dropout:
            h = dropout_layer(dropout)(h)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init, name="logits")(h)
    return keras.Model(inputs, logits, name=name)
