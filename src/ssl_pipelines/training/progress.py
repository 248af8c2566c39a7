"""Console progress of ``fit_model``: one line per epoch, and the stage line with the model's real
parameter count (a subclassed model is built only by its first training step)."""

from __future__ import annotations

import logging
import math
import time

import keras

logger = logging.getLogger("ssl_pipelines.training.fit")


def format_epoch(epoch: int, epochs: int, logs: dict, seconds: float) -> str:
    """``"epoch 3/30  loss 2.2009  accuracy 0.3375  val_accuracy 0.7000  0.1 s"``: losses and
    metrics in the order Keras reports them, validation ones last."""
    items = sorted((logs or {}).items(), key=lambda kv: kv[0].startswith("val_"))
    metrics = "  ".join(f"{k} {float(v):.4f}" for k, v in items)
    return f"epoch {epoch + 1}/{epochs}  {metrics}  {seconds:.1f} s"


class EpochLine(keras.callbacks.Callback):
    """Prints :func:`format_epoch` at the end of every epoch, in one line (Keras' ``verbose=2``
    takes two: ``Epoch 3/30`` and the metrics). A stage longer than ``max_lines`` epochs prints
    every k-th epoch (k = ceil(epochs / max_lines)) and the last one; the seconds are per epoch."""

    def __init__(self, epochs: int, max_lines: int = 30):
        super().__init__()
        self.epochs = int(epochs)
        self.every = max(1, math.ceil(self.epochs / max(1, int(max_lines))))
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            print(format_epoch(epoch, self.epochs, logs or {}, time.perf_counter() - self._start), flush=True)


class StageLine(keras.callbacks.Callback):
    """Logs ``"<stage>: E epochs x S steps, N parameters"`` once the model is built: now if it is,
    else after the first training step."""

    def __init__(self, stage: str, epochs: int, steps: int):
        super().__init__()
        self.text = f"{stage}: {epochs} epochs x {steps} steps"
        self._done = False

    def log_if_built(self, model: keras.Model) -> None:
        if not self._done and model.built:
            logger.info("%s, %s parameters", self.text, f"{model.count_params():,}")
            self._done = True

    def on_train_batch_end(self, batch, logs=None):
        self.log_if_built(self.model)

    def on_train_end(self, logs=None):
        if not self._done:
            logger.info(self.text)
            self._done = True
