"""Optimizers from parameters: ``{"name": "adam", "learning_rate": 3e-4, ...}``.

Two kinds of weight decay (``wd``), both over every trainable variable (biases and batch-norm
scales too, as PyTorch's ``weight_decay`` and Keras' own):

* ``weight_decay``: Keras' *decoupled* decay, ``w <- w - lr * wd * w`` after the update; it does not
  pass through momentum (AdamW's definition).
* ``coupled_weight_decay``: PyTorch-style L2, ``g <- g + wd * w`` added to the gradient *before* the
  optimizer, so it goes through momentum / Nesterov / Adam's moments like the loss gradient does
  (``torch.optim.SGD(..., weight_decay=wd)``, what the R2-D2 and Mean Teacher reference code use).
  With SGD momentum 0.9 the coupled decay is about ``1 / (1 - 0.9) = 10`` times stronger in the
  steady state than the decoupled one with the same ``wd``.
"""

from __future__ import annotations

import keras
from keras import ops

from ssl_pipelines.data.errors import ConfigError


class CoupledWeightDecay:
    """Mixin for a Keras optimizer: adds ``coupled_weight_decay * w`` to each variable's gradient
    before the update (PyTorch's ``weight_decay``). Variables excluded with
    ``exclude_from_weight_decay`` are left alone."""

    def __init__(self, *args, coupled_weight_decay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.coupled_weight_decay = float(coupled_weight_decay)

    def _backend_apply_gradients(self, grads, trainable_variables):
        if self.coupled_weight_decay:
            grads = [
                g if g is None or not self._use_weight_decay(v)
                else g + ops.cast(self.coupled_weight_decay, g.dtype) * ops.cast(v, g.dtype)
                for g, v in zip(grads, trainable_variables)
            ]
        return super()._backend_apply_gradients(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "coupled_weight_decay": self.coupled_weight_decay}


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class CoupledSGD(CoupledWeightDecay, keras.optimizers.SGD):
    """SGD with PyTorch-style (coupled) L2 weight decay; see :class:`CoupledWeightDecay`."""


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class CoupledAdam(CoupledWeightDecay, keras.optimizers.Adam):
    """Adam with PyTorch-style (coupled) L2 weight decay (``torch.optim.Adam(weight_decay=...)``)."""


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class CoupledRMSprop(CoupledWeightDecay, keras.optimizers.RMSprop):
    """RMSprop with PyTorch-style (coupled) L2 weight decay."""


_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
_COUPLED = {"adam": CoupledAdam, "sgd": CoupledSGD, "rmsprop": CoupledRMSprop}


def build_optimizer(params: dict | None = None) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer.

    Args:
        params: ``name`` (adam, adamw, sgd, rmsprop; default adam), ``learning_rate`` (> 0),
            ``coupled_weight_decay`` (>= 0, PyTorch-style L2 through the gradient; not with adamw,
            whose decay is decoupled by definition) and any other keyword of that optimizer
            (``beta_1``, ``momentum``, ``nesterov``, ``weight_decay`` (decoupled), ...).

    Raises:
        ConfigError: unknown optimizer, non-positive learning rate, a negative or non-numeric
            weight decay, both kinds of weight decay at once, or a bad keyword.
    """
    params = dict(params or {})
    name = str(params.pop("name", "adam")).lower()
    if name not in _OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; expected one of {sorted(_OPTIMIZERS)}")
    lr = params.pop("learning_rate", 1e-3)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"optimizer.learning_rate must be a positive number, got {lr!r}")
    cls = _OPTIMIZERS[name]
    for key in ("weight_decay", "coupled_weight_decay"):
        wd = params.get(key)
        if wd is not None and (isinstance(wd, bool) or not isinstance(wd, (int, float)) or wd < 0):
            raise ConfigError(f"optimizer.{key} must be a non-negative number or null, got {wd!r}")
    coupled = params.pop("coupled_weight_decay", None)
    if coupled:
        if name not in _COUPLED:
            raise ConfigError(f"optimizer.coupled_weight_decay is not available for {name!r} (its weight "
                              f"decay is decoupled by definition); expected one of {sorted(_COUPLED)}")
        if params.get("weight_decay"):
            raise ConfigError("optimizer: set either weight_decay (Keras, decoupled) or coupled_weight_decay "
                              f"(PyTorch-style L2), not both; got {params['weight_decay']!r} and {coupled!r}")
        cls, params = _COUPLED[name], {**params, "coupled_weight_decay": float(coupled)}
    try:
        return cls(learning_rate=float(lr), **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad optimizer parameters for {name!r}: {exc}") from exc
