"""Encoder / decoder networks of the deep generative SSL models (Kingma et al. 2014, METHODS.md §5.1).

Functional ``keras.Model`` builders (serializable as they are), used by ``methods.M1``,
``methods.M2`` and ``methods.M1M2``. They are not classifier backbones, so they are not in the
backbone registry. Every Dense layer starts from weights ``N(0, kernel_init_std^2)`` (1e-3 in the
reference code; ``kernel_init_std=None``: the ``kernel_initializer`` named, Glorot-uniform by
default) and zero biases.

Shapes: the M1 networks map ``(B, ...)`` inputs to ``(B, Z)`` / ``(B, D)``; the class-conditional
M2 networks take ``y`` as ``(B, K, C)`` one-hot rows (``K = 1`` for a labeled batch, ``K = C`` to
sum ``y`` out of the unlabeled bound) and return ``(B, K, ...)``.
"""

from __future__ import annotations

import math

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.models.mlp import dense_kernel_initializer

LIKELIHOODS = ("bernoulli", "gaussian")
#: activation of the encoders' ``log_var`` layer: ``linear`` (any variance) or ``softplus``
#: (``log_var >= 0``, variance >= 1, as in ``wohlert/semi-supervised-pytorch``).
LOG_VAR_ACTIVATIONS = ("linear", "softplus")


def _check_units(name: str, units) -> list[int]:
    units = list(units or [])
    if any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units):
        raise ConfigError(f"{name} must be a list of positive integers, got {units!r}")
    return units


def check_likelihood(likelihood: str) -> str:
    if likelihood not in LIKELIHOODS:
        raise ConfigError(f"likelihood must be one of {list(LIKELIHOODS)}, got {likelihood!r}")
    return likelihood


def gaussian_encoder(input_shape, latent_dim: int = 50, hidden_units=(500, 500), activation: str = "softplus",
                     kernel_init_std: float | None = 1e-3, kernel_initializer: str = "glorot_uniform",
                     name: str = "encoder") -> keras.Model:
    """M1's ``q(z|x) = N(mu(x), diag exp(log_var(x)))``: x -> hidden layers -> ``[mean, log_var]``, each ``(B, Z)``."""
    units = _check_units("hidden_units", hidden_units)
    init = dense_kernel_initializer(kernel_init_std, kernel_initializer)
    x = keras.Input(tuple(input_shape), name="x")
    h = keras.layers.Flatten()(x)
    for i, u in enumerate(units):
        h = keras.layers.Dense(u, activation=activation, kernel_initializer=init, name=f"hidden_{i}")(h)
    mean = keras.layers.Dense(int(latent_dim), kernel_initializer=init, name="mean")(h)
    log_var = keras.layers.Dense(int(latent_dim), kernel_initializer=init, name="log_var")(h)
    return keras.Model(x, [mean, log_var], name=name)


def conditional_gaussian_encoder(input_shape, num_classes: int, latent_dim: int = 50, hidden_units=(500,),
                                 activation: str = "softplus", kernel_init_std: float | None = 1e-3,
                                 kernel_initializer: str = "glorot_uniform", log_var_activation: str = "linear",
                                 name: str = "encoder") -> keras.Model:
    """M2's ``q(z|x,y) = N(mu(x,y), diag exp(log_var(x,y)))`` (mean and variance share a hidden layer on ``[x, y]``).

    The first hidden layer is ``act(W_x x + W_y y + b)``, exactly a Dense layer on the
    concatenation ``[x, y]``, but ``W_x x`` is computed once per image and broadcast over the ``K``
    class rows, so summing ``y`` out costs one ``x`` projection, not ``C``.

    Inputs: ``[x (B, ...), y (B, K, C)]``. Outputs: ``[mean, log_var]``, each ``(B, K, Z)``;
    ``log_var_activation`` (:data:`LOG_VAR_ACTIVATIONS`) is applied to ``log_var``.
    """
    units = _check_units("hidden_units", hidden_units)
    if log_var_activation not in LOG_VAR_ACTIVATIONS:
        raise ConfigError(f"log_var_activation must be one of {list(LOG_VAR_ACTIVATIONS)}, got {log_var_activation!r}")
    if not units:
        raise ConfigError("the M2 encoder needs at least one hidden layer (hidden_units is empty)")
    init = dense_kernel_initializer(kernel_init_std, kernel_initializer)
    x = keras.Input(tuple(input_shape), name="x")
    y = keras.Input((None, int(num_classes)), name="y")
    hx = keras.layers.Dense(units[0], kernel_initializer=init, name="hidden_0_x")(keras.layers.Flatten()(x))
    hy = keras.layers.Dense(units[0], use_bias=False, kernel_initializer=init, name="hidden_0_y")(y)
    h = keras.layers.Activation(activation, name="hidden_0")(keras.ops.expand_dims(hx, 1) + hy)
    for i, u in enumerate(units[1:], start=1):
        h = keras.layers.Dense(u, activation=activation, kernel_initializer=init, name=f"hidden_{i}")(h)
    mean = keras.layers.Dense(int(latent_dim), kernel_initializer=init, name="mean")(h)
    log_var = keras.layers.Dense(int(latent_dim), activation=log_var_activation, kernel_initializer=init,
                                 name="log_var")(h)
    return keras.Model([x, y], [mean, log_var], name=name)


def decoder(latent_dim: int, output_shape, hidden_units=(500, 500), likelihood: str = "bernoulli",
            num_classes: int = 0, activation: str = "softplus", kernel_init_std: float | None = 1e-3,
            kernel_initializer: str = "glorot_uniform", name: str = "decoder") -> keras.Model:
    """``p(x|z)`` (M1, ``num_classes=0``) or ``p(x|y,z)`` (M2, ``num_classes=C``).

    Inputs: ``z`` (``(B, Z)``; ``(B, K, Z)`` when conditional) [and ``y`` ``(B, K, C)``].
    Outputs: Bernoulli logits ``(..., D)`` with ``D = prod(output_shape)`` (flattened), or
    ``[mean, log_var]`` for a Gaussian likelihood (M1+M2's ``p(z1|y,z2)``, continuous data).
    """
    units = _check_units("hidden_units", hidden_units)
    check_likelihood(likelihood)
    init = dense_kernel_initializer(kernel_init_std, kernel_initializer)
    dim = int(math.prod(int(d) for d in output_shape))
    if num_classes:
        z = keras.Input((None, int(latent_dim)), name="z")
        y = keras.Input((None, int(num_classes)), name="y")
        inputs = [z, y]
        h = keras.layers.Concatenate(axis=-1)([z, y])
    else:
        z = keras.Input((int(latent_dim),), name="z")
        inputs = z
        h = z
    for i, u in enumerate(units):
        h = keras.layers.Dense(u, activation=activation, kernel_initializer=init, name=f"hidden_{i}")(h)
    if likelihood == "bernoulli":
        outputs = keras.layers.Dense(dim, kernel_initializer=init, name="logits")(h)
    else:
        outputs = [keras.layers.Dense(dim, kernel_initializer=init, name="mean")(h),
                   keras.layers.Dense(dim, kernel_initializer=init, name="log_var")(h)]
    return keras.Model(inputs, outputs, name=name)
