"""Learning rate held constant, then decayed linearly to 0: the effective schedule of the released
HybridNet code (METHODS.md §1.3: lr 0.003 for epochs 0-180 of 300, then linear to 0 at the end),
usable by any method through the ``train.lr_decay_start`` parameter."""

from __future__ import annotations

import keras
from keras import ops

from ssl_pipelines.data.errors import ConfigError


def linear_decay_factor(step, total_steps: int, decay_start: float):
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    ``1`` for ``step <= decay_start * total_steps``, then linear down to ``0`` at the last step
    ``total_steps - 1``, as the released HybridNet ``Scheduler`` (METHODS.md §1.3: 0.003 at epochs
    0-180 of 300, 0.0025 at 200, 0.00124 at 250, 0 at 299; ``decay_start = 180/300 = 0.6``).
    Works on Python numbers and tensors.
    """
    start = float(decay_start) * float(total_steps)
    frac = ops.clip((ops.cast(step, "float32") - start) / max(float(total_steps) - 1.0 - start, 1.0), 0.0, 1.0)
    return 1.0 - frac


def budget_decay_factor(fraction_used: float, decay_start: float) -> float:
    """Multiplier of the base learning rate when ``fraction_used`` of a time budget is spent: ``1``
    up to ``decay_start``, then linear down to ``0`` when the budget is used up (and ``0`` after it:
    an epoch-boundary budget finishes its last epoch at rate 0)."""
    start = float(decay_start)
    return 1.0 - min(max((float(fraction_used) - start) / max(1.0 - start, 1e-12), 0.0), 1.0)


def check_decay_start(value, name: str = "train.lr_decay_start") -> float | None:
    """``None`` (constant learning rate) or a fraction in [0, 1); anything else is a ``ConfigError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be null (constant learning rate) or a fraction in [0, 1) of the "
                          f"training steps after which the learning rate decays linearly to 0, got {value!r}")
    return float(value)


class LinearLrDecay(keras.callbacks.Callback):
    """Set the optimizer's learning rate before every step to ``base · linear_decay_factor``.

    The step is the optimizer's own counter and the total is ``epochs × steps`` of the ``fit``
    call, so a run resumed from a checkpoint (``initial_epoch > 0``) continues the same schedule.

    With a time budget (``budget``, a :class:`~ssl_pipelines.training.CpuTimeBudget` of the same
    ``fit``: ``train.cpu_minutes`` / ``train.wall_minutes``) the schedule follows whichever is further
    along, the steps or the budget (:func:`budget_decay_factor`): ``lr_decay_start: 0.5`` with an
    8-minute budget decays over the last 4 minutes, reaching 0 when the budget runs out even if
    ``epochs`` is only an upper bound. (On a resume the budget goes on from the checkpoint's count.)

    Args:
        base_learning_rate: the undecayed rate (pass it explicitly: after a resume the optimizer's
            current rate is already decayed).
        decay_start: fraction of the training steps (or budget) after which the rate decays (0.6 =
            released code).
        budget: optional time budget whose used fraction also drives the decay.
    """

    def __init__(self, base_learning_rate: float, decay_start: float, budget=None):
        super().__init__()
        self.base = float(base_learning_rate)
        self.decay_start = check_decay_start(decay_start, "decay_start")
        self.budget = budget
        self.total = None

    def on_train_begin(self, logs=None):
        self.total = int(self.params["epochs"]) * int(self.params["steps"])

    def factor(self, step: int) -> float:
        """The multiplier before optimizer step ``step``: the smaller of the step and budget schedules."""
        factor = float(linear_decay_factor(step, self.total, self.decay_start))
        if self.budget is not None:
            used = self.budget.used_seconds() / (60.0 * self.budget.minutes)
            factor = min(factor, budget_decay_factor(used, self.decay_start))
        return factor

    def on_train_batch_begin(self, batch, logs=None):
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        self.model.optimizer.learning_rate = self.base * self.factor(step)
