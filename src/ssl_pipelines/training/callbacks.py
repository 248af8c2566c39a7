"""Training callbacks shared by all methods: MLflow per-epoch curves and a non-finite-loss guard."""

from __future__ import annotations

import logging
import math

import keras

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """Raised when a loss term becomes NaN or infinite; names the term, epoch and step."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training with a clear error as soon as any reported loss term is NaN/inf.

    Unlike ``keras.callbacks.TerminateOnNaN`` (which stops silently and checks only ``loss``),
    this names the offending term, e.g. ``"loss term 'reconstruction' is nan at epoch 3, step 17"``.
    """

    def __init__(self, stage: str = "train"):
        super().__init__()
        self.stage = stage
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v):
                raise NonFiniteLossError(
                    f"{self.stage}: loss term {name!r} is {v} at epoch {self._epoch + 1}, step {batch + 1}; "
                    f"training stopped (lower the learning rate or check the input data)"
                )


class MlflowMetricsLogger(keras.callbacks.Callback):
    """Log every epoch's metrics to the active MLflow run as ``<prefix>.<metric>`` at step = epoch.

    Does nothing when no MLflow run is active (library use without Kedro), so methods stay free
    of tracking code. ``val_<m>`` metrics are logged as ``<prefix>.val_<m>``.
    """

    def __init__(self, prefix: str = "train", step_offset: int = 0):
        super().__init__()
        self.prefix = prefix
        self.step_offset = int(step_offset)

    def on_epoch_end(self, epoch, logs=None):
        try:
            import mlflow
        except ImportError:  # pragma: no cover
            return
        if mlflow.active_run() is None or not logs:
            return
        metrics = {}
        for k, v in logs.items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                metrics[f"{self.prefix}.{k}"] = v
        if metrics:
            mlflow.log_metrics(metrics, step=epoch + self.step_offset)


class ThroughputLogger(keras.callbacks.Callback):
    """Records training images per second of each epoch (``steps x batch / wall time``) in
    ``rates``."""

    def __init__(self, images_per_step: int, steps: int):
        super().__init__()
        self.images_per_step = int(images_per_step)
        self.images = self.images_per_step * int(steps)
        self.rates: list[float] = []

    def step_ms(self) -> float | None:
        """Milliseconds per training step: the median over the epochs after the first (which traces
        the step; all epochs when there is one), from ``rates``; None before an epoch ends."""
        import statistics

        rates = self.rates[1:] or self.rates
        return 1000.0 * self.images_per_step / statistics.median(rates) if rates else None

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import time

        self.rates.append(self.images / max(time.perf_counter() - self._t0, 1e-9))

    def checkpoint_state(self) -> list[float]:  # a resumed stage keeps the rates of its restored epochs
        return self.rates

    def restore_checkpoint_state(self, state: list[float]) -> None:
        self.rates = list(state)

    def log_to_mlflow(self, stage: str) -> None:
        """Log ``<stage>.images_per_second`` to the active MLflow run (nothing without one): one
        value per epoch (step = epoch, 1-based), so the run's metric is the last epoch's and its
        history the whole curve; and ``<stage>.step_ms``, the median step time (:meth:`step_ms`)."""
        import mlflow

        if mlflow.active_run() is None or not self.rates:
            return
        for epoch, rate in enumerate(self.rates, start=1):
            mlflow.log_metric(f"{stage}.images_per_second", float(rate), step=epoch)
        mlflow.log_metric(f"{stage}.step_ms", float(self.step_ms()))
