"""Optimizers from parameters: ``{"name": "adam", "learning_rate": 3e-4, ...}``."""

from __future__ import annotations

import keras

from ssl_pipelines.data.errors import ConfigError

_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def build_optimizer(params: dict | None = None) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer.

    Args:
        params: ``name`` (adam, adamw, sgd, rmsprop; default adam), ``learning_rate`` (> 0), and
            any other keyword of that optimizer (``beta_1``, ``momentum``, ``nesterov``,
            ``weight_decay``, ...).

    Raises:
        ConfigError: unknown optimizer, non-positive learning rate or a bad keyword.
    """
    params = dict(params or {})
    name = str(params.pop("name", "adam")).lower()
    if name not in _OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; expected one of {sorted(_OPTIMIZERS)}")
    lr = params.pop("learning_rate", 1e-3)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"optimizer.learning_rate must be a positive number, got {lr!r}")
    try:
        return _OPTIMIZERS[name](learning_rate=float(lr), **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad optimizer parameters for {name!r}: {exc}") from exc
