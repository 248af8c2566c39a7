"""``fit_model``: the one training loop every method node calls (progress bar, MLflow curves,
non-finite guard), returning the per-epoch history."""

from __future__ import annotations

import logging
from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.training.callbacks import MlflowMetricsLogger, StopOnNonFiniteLoss

logger = logging.getLogger(__name__)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def fit_model(
    model: keras.Model,
    train_data: tf.data.Dataset,
    *,
    epochs: int,
    steps_per_epoch: int,
    validation_data: tf.data.Dataset | None = None,
    stage: str = "train",
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
    initial_epoch: int = 0,
) -> dict[str, list[float]]:
    """Fit ``model`` and return ``history`` as plain lists of floats.

    Adds :class:`StopOnNonFiniteLoss` and :class:`MlflowMetricsLogger` (prefix ``stage``).
    """
    check_positive_int(f"{stage}.epochs", epochs)
    check_positive_int(f"{stage}.steps_per_epoch", steps_per_epoch)
    logger.info("%s: %d epochs x %d steps, %s parameters", stage, epochs, steps_per_epoch,
                f"{model.count_params():,}" if model.built else "?")
    cbs = [StopOnNonFiniteLoss(stage), MlflowMetricsLogger(stage), *(callbacks or [])]
    history = model.fit(
        train_data, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=validation_data,
        callbacks=cbs, verbose=verbose, initial_epoch=initial_epoch, shuffle=False,
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}
