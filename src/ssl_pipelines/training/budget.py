"""Stop ``fit`` when the time spent training exceeds a budget: process CPU time (benchmarks/RESULTS.md
counts budgets so, and other load on the machine does not change a result) or wall-clock time (for
"accuracy after N minutes" comparisons on an otherwise idle machine)."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any

import keras

from ssl_pipelines.data.errors import ConfigError

logger = logging.getLogger(__name__)

BUDGET_CHECKS = ("epoch", "step")
BUDGET_CLOCKS = ("cpu", "wall")
_CLOCK_FUNCTIONS = {"cpu": "process_time", "wall": "perf_counter"}  # looked up per call (tests fake them)


class CpuTimeBudget(keras.callbacks.Callback):
    """Stop training at the first epoch (or step) boundary after ``minutes`` of training CPU time.

    CPU time is ``time.process_time()`` (all threads of this process) counted from the start of
    each epoch to the start of its validation (``on_test_begin``) or, without validation data, to
    its end: validation and the epoch-end work of the callbacks after this one are not counted.
    Put it first in the callbacks list so that the epoch-end evaluations of the others are
    excluded too.

    ``check="epoch"`` finishes the epoch in which the budget runs out (whole passes, comparable
    curves); ``check="step"`` stops after the step in which it runs out (Keras still runs that
    epoch's validation and ``on_epoch_end``).

    After ``fit``: ``cpu_seconds`` (training CPU time used), ``epochs_completed`` (epochs begun and
    ended, the stopped one included), ``steps_completed`` (all epochs), ``stopped_early`` and
    ``stopped_at`` (``{"epoch": e, "step": s}``, 1-based, or ``None``); :meth:`summary` has them all
    for logging. They travel with the stage's checkpoint (:meth:`checkpoint_state`): a stage resumed
    after a kill goes on counting from what the interrupted run had used, so it stops at the same
    budget and logs the whole run's minutes, epochs and steps, not only the resumed part's.

    With ``clock="wall"`` the same is counted in wall-clock seconds (``time.perf_counter``) instead:
    ``cpu_seconds`` then holds training wall seconds, and the stop reason is ``"wall_budget"``.

    Args:
        minutes: the budget in CPU-minutes (or wall minutes), > 0.
        check: ``"epoch"`` or ``"step"``.
        clock: ``"cpu"`` (process CPU time, all threads) or ``"wall"``.
    """

    def __init__(self, minutes: float, check: str = "epoch", clock: str = "cpu"):
        super().__init__()
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) \
                or minutes <= 0:
            raise ConfigError(f"the CPU-time budget must be a positive number of minutes, got {minutes!r}")
        if check not in BUDGET_CHECKS:
            raise ConfigError(f"the CPU-time budget check must be one of {list(BUDGET_CHECKS)}, got {check!r}")
        if clock not in BUDGET_CLOCKS:
            raise ConfigError(f"the time budget's clock must be one of {list(BUDGET_CLOCKS)}, got {clock!r}")
        self.minutes = float(minutes)
        self.check = check
        self.clock = clock
        self._restored: dict | None = None
        self._reset()

    def _reset(self) -> None:
        self.cpu_seconds = 0.0
        self.epochs_completed = 0
        self.steps_completed = 0
        self.stopped_early = False
        self.stopped_at: dict[str, int] | None = None
        self._since: float | None = None
        self._epoch = 0
        self._step = 0

    # === Clock ===
    def _now(self) -> float:
        return getattr(time, _CLOCK_FUNCTIONS[self.clock])()

    def _resume(self) -> None:
        if self._since is None:
            self._since = self._now()

    def _pause(self) -> None:
        if self._since is not None:
            self.cpu_seconds += self._now() - self._since
            self._since = None

    @contextlib.contextmanager
    def paused(self):
        """Work inside this block (e.g. a learning-curve evaluation) is not counted."""
        running = self._since is not None
        self._pause()
        try:
            yield
        finally:
            if running:
                self._resume()

    def used_seconds(self) -> float:
        """Training CPU seconds so far (including the running segment)."""
        running = 0.0 if self._since is None else self._now() - self._since
        return self.cpu_seconds + running

    def _stop_if_over(self) -> None:
        if self.stopped_early or self.used_seconds() <= 60.0 * self.minutes:
            return
        self.stopped_early = True
        self.stopped_at = {"epoch": self._epoch + 1, "step": self._step}
        self.model.stop_training = True
        logger.info("%s budget of %.2f min used up (%.2f %s of training): stopping at epoch %d, step %d",
                    "CPU-time" if self.clock == "cpu" else "Wall-time", self.minutes, self.used_seconds() / 60.0,
                    "CPU-min" if self.clock == "cpu" else "min", self._epoch + 1, self._step)

    # === Resume (training/checkpoint.py) ===
    def checkpoint_state(self) -> dict:
        """What was used so far, saved with every checkpoint of the stage."""
        return {"seconds": self.used_seconds(), "epochs": self.epochs_completed, "steps": self.steps_completed,
                "stopped_early": self.stopped_early, "stopped_at": self.stopped_at}

    def restore_checkpoint_state(self, state: dict) -> None:
        """Continue from a checkpoint's counts (kept across ``on_train_begin``, which follows)."""
        self._restored = dict(state)
        self._apply_restored()

    def _apply_restored(self) -> None:
        if not self._restored:
            return
        self.cpu_seconds = float(self._restored.get("seconds", 0.0))
        self.epochs_completed = int(self._restored.get("epochs", 0))
        self.steps_completed = int(self._restored.get("steps", 0))
        self.stopped_early = bool(self._restored.get("stopped_early", False))
        self.stopped_at = self._restored.get("stopped_at")

    # === Keras hooks ===
    def on_train_begin(self, logs=None):
        self._reset()
        self._apply_restored()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)
        self._step = 0
        self._resume()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self.steps_completed += 1
        if self.check == "step":
            self._stop_if_over()

    def on_test_begin(self, logs=None):
        self._pause()

    def on_epoch_end(self, epoch, logs=None):
        self._pause()
        self.epochs_completed += 1
        self._stop_if_over()

    def on_train_end(self, logs=None):
        self._pause()

    @property
    def stop_reason(self) -> str:
        """``"cpu_budget"`` (``"wall_budget"``) when the budget stopped training, else ``"epochs"``."""
        return f"{self.clock}_budget" if self.stopped_early else "epochs"

    def log_to_mlflow(self, stage: str) -> None:
        """Log the budget to the active MLflow run (nothing without one): params
        ``<stage>.cpu_minutes_budget``; metrics ``<stage>.cpu_minutes_used``, ``<stage>.epochs_completed``,
        ``<stage>.steps_completed`` (``<stage>.wall_minutes_used`` with the wall clock); tag
        ``<stage>.stop_reason``."""
        import mlflow

        if mlflow.active_run() is None:
            return
        mlflow.set_tag(f"{stage}.stop_reason", self.stop_reason)
        mlflow.log_metrics({f"{stage}.{self.clock}_minutes_used": self.cpu_seconds / 60.0,
                            f"{stage}.epochs_completed": float(self.epochs_completed),
                            f"{stage}.steps_completed": float(self.steps_completed)})

    def summary(self) -> dict[str, Any]:
        """What the budget allowed, for logs: minutes, CPU-minutes used, epochs, steps, where it stopped."""
        return {f"budget_{self.clock}_minutes": self.minutes, f"{self.clock}_minutes": self.cpu_seconds / 60.0,
                "epochs_completed": self.epochs_completed, "steps_completed": self.steps_completed,
                "stopped_early": self.stopped_early, "stopped_at": self.stopped_at, "stop_reason": self.stop_reason}
