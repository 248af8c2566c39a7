"""``AccuracyCurve``: a learning curve of test accuracy during training (``evaluation.curve_every``)."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable

import keras
import numpy as np

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.params.data import CURVE_UNITS
from ssl_pipelines.training.fit import check_positive_int

logger = logging.getLogger(__name__)


class AccuracyCurve(keras.callbacks.Callback):
    """Every ``every`` epochs (``unit="epoch"``) or training steps (``"step"``), the test accuracy of
    ``predict`` (images -> logits, the model as it is evaluated at the end) on ``x``/``y``.

    Each point is logged to the active MLflow run as ``<stage>.test_accuracy`` and
    ``<stage>.test_error`` (%) at step = the epoch (1-based) or the global step, and kept in
    ``points`` as ``(step, accuracy)``. With a ``budget`` (:class:`CpuTimeBudget`) the evaluation
    is not counted as training time, and the training minutes used so far (CPU or wall, as the
    budget counts them) are logged at the same step as ``<stage>.train_minutes`` (accuracy after N
    minutes is read from the two histories) and kept in ``minutes``.
    """

    def __init__(self, predict: Callable, x: np.ndarray, y: np.ndarray, every: int, unit: str = "epoch",
                 stage: str = "train", batch_size: int = 256, budget=None):
        super().__init__()
        check_positive_int("evaluation.curve_every", every)
        if unit not in CURVE_UNITS:
            raise ConfigError(f"evaluation.curve_unit must be one of {list(CURVE_UNITS)}, got {unit!r}")
        self.predict, self.x, self.y = predict, x, np.asarray(y).astype(np.int64)
        self.every, self.unit, self.stage, self.batch_size, self.budget = every, unit, stage, int(batch_size), budget
        self.points: list[tuple[int, float]] = []
        self.minutes: list[float] = []
        self._global_step = 0

    def accuracy(self) -> float:
        logits = [np.asarray(self.predict(self.x[i:i + self.batch_size])) for i in range(0, len(self.x), self.batch_size)]
        return float((np.concatenate(logits).argmax(axis=1) == self.y).mean())

    def _record(self, step: int) -> None:
        with self.budget.paused() if self.budget is not None else contextlib.nullcontext():
            acc = self.accuracy()
        self.points.append((step, acc))
        metrics = {f"{self.stage}.test_accuracy": acc, f"{self.stage}.test_error": 100.0 * (1 - acc)}
        if self.budget is not None:
            self.minutes.append(self.budget.used_seconds() / 60.0)
            metrics[f"{self.stage}.train_minutes"] = self.minutes[-1]
        logger.info("%s: test accuracy %.4f (error %.2f %%) at %s %d", self.stage, acc, 100 * (1 - acc), self.unit, step)
        import mlflow

        if mlflow.active_run() is not None and math.isfinite(acc):
            mlflow.log_metrics(metrics, step=step)

    def on_train_begin(self, logs=None):
        self.points = []
        self.minutes = []
        self._global_step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_step += 1
        if self.unit == "step" and self._global_step % self.every == 0:
            self._record(self._global_step)

    def on_epoch_end(self, epoch, logs=None):
        if self.unit == "epoch" and (epoch + 1) % self.every == 0:
            self._record(epoch + 1)
