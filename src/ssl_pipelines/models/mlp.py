"""Multi-layer perceptron classifier (the "NN" baseline of Kingma et al. 2014, Table 1)."""

from __future__ import annotations

import keras

from ssl_pipelines.models.registry import register_backbone


@register_backbone("mlp")
def mlp(
    input_shape,
    num_classes: int,
    hidden_units=(500, 500),
    activation: str = "relu",
    dropout: float = 0.0,
    kernel_init_std: float | None = None,
    name: str = "mlp",
) -> keras.Model:
    """Flatten -> [Dense(units, activation) -> Dropout] * len(hidden_units) -> Dense(num_classes).

    Args:
        hidden_units: widths of the hidden layers.
        activation: hidden activation (``relu``, ``softplus``, ...).
        dropout: dropout rate after each hidden layer.
        kernel_init_std: if given, weights ~ N(0, std^2) (Kingma et al. use 1e-3), else Glorot.
    """
    init = "glorot_uniform" if kernel_init_std is None else keras.initializers.RandomNormal(stddev=kernel_init_std)
    inputs = keras.Input(input_shape, name="x")
    h = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(int(units), activation=activation, kernel_initializer=init, name=f"dense_{i}")(h)
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init, name="logits")(h)
    return keras.Model(inputs, logits, name=name)
