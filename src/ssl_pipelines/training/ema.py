"""Exponential moving average (EMA) of a model's weights: the Mean Teacher "teacher".

METHODS.md §1.2 (stability term, Mean Teacher version): after every optimizer step,
``θ' ← a·θ' + (1 − a)·θ`` with ``a = min(1 − 1/(step + 1), decay)`` (Tarvainen & Valpola 2017,
Eq. in §3 "Mean teacher"; HybridNet code ``update_ema_variables``). The warm-up form of ``a``
makes the teacher a plain running average in the first steps.

Two ways to use it, for any ``keras.Model``:

* inside a ``train_step``: hold an :class:`EMATeacher` built from the student and call
  :meth:`EMATeacher.update` after ``optimizer.apply`` (what ``MeanTeacher`` and ``HybridNet`` do);
* from the outside: ``model.fit(..., callbacks=[EMACallback(EMATeacher(model.backbone))])``.

Two modes. ``trainable_only=True`` (what Mean Teacher's and HybridNet's PyTorch code do, and
what ``MeanTeacher``/``HybridNet`` use): only the parameters are averaged; the teacher's
batch-norm statistics come from its own forward passes in training mode (the teacher must then
stay ``trainable`` so that Keras' batch norm uses batch statistics, and be left out of the
gradient step). ``trainable_only=False``: every weight is averaged, moving statistics included
(simpler, but it lags badly on short runs, because averaged statistics do not describe the
averaged network's activations).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def ema_decay(step, max_decay: float):
    """``min(1 − 1/(step + 1), max_decay)``: the Mean Teacher warm-up decay (METHODS.md §1.2).

    ``step`` is the number of optimizer steps taken so far (0 before the first one is done is
    never used: the first update happens after step 1, giving ``a = 0.5``)."""
    step = tf.cast(step, tf.float32)
    return tf.minimum(1.0 - 1.0 / (step + 1.0), tf.cast(max_decay, tf.float32))


def update_ema(teacher_weights, student_weights, decay) -> None:
    """In place: ``t ← decay·t + (1 − decay)·s`` for each pair of variables (same order/shape)."""
    decay = tf.cast(decay, tf.float32)
    for t, s in zip(teacher_weights, student_weights):
        if "float" in str(t.dtype):
            d = tf.cast(decay, t.dtype)
            t.assign(d * t + (1.0 - d) * tf.cast(s, t.dtype))
        else:  # integer state (e.g. counters): copy
            t.assign(s)


def clone_for_ema(student: keras.Model, name: str | None = None, trainable: bool = False) -> keras.Model:
    """A structural copy of ``student`` (fresh variables) initialised with its weights.

    ``trainable=False`` freezes it (batch norm then always runs on moving statistics); keep it
    ``True`` for a teacher that runs in training mode (its variables must then be excluded from
    the optimizer step by the caller)."""
    teacher = keras.models.clone_model(student)
    if name:
        teacher.name = name
    if not teacher.built and student.built:
        teacher.build(student.input_shape)
    teacher.set_weights(student.get_weights())
    teacher.trainable = bool(trainable)
    return teacher


class EMATeacher:
    """Keep an EMA copy of a model's weights.

    Args:
        student: the model whose weights are averaged (built).
        decay: the largest EMA decay ``a`` (Mean Teacher 0.99-0.999; HybridNet code 0.97).
        teacher: an existing teacher model with the same structure (e.g. rebuilt when a saved
            model is loaded); default: a fresh frozen copy of ``student``.
        trainable_only: average the trainable weights only (see the module docstring).

    Example:
        >>> ema = EMATeacher(net, decay=0.99)
        >>> ema.update(step=optimizer.iterations)   # after each optimizer step
        >>> logits = ema.teacher(x, training=False)
    """

    def __init__(self, student: keras.Model, decay: float = 0.999, teacher: keras.Model | None = None,
                 trainable_only: bool = False):
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay!r}")
        self.student = student
        self.decay = float(decay)
        self.teacher = teacher if teacher is not None else clone_for_ema(student)
        self.trainable_only = bool(trainable_only)
        if len(self.teacher.weights) != len(student.weights):
            raise ValueError("teacher and student have different numbers of weights")

    def pairs(self) -> tuple[list, list]:
        """(teacher variables, student variables) that the EMA updates, in matching order."""
        if self.trainable_only:
            t, s = self.teacher.trainable_weights, self.student.trainable_weights
            if len(t) != len(s):
                raise ValueError("trainable_only needs a trainable teacher with the student's structure")
            return t, s
        return self.teacher.weights, self.student.weights

    def update(self, step=None) -> None:
        """One EMA step; ``step`` (optimizer steps done) enables the warm-up decay."""
        decay = self.decay if step is None else ema_decay(step, self.decay)
        update_ema(*self.pairs(), decay)


class EMACallback(keras.callbacks.Callback):
    """Update an :class:`EMATeacher` after every training batch (for models that do not do it in
    their own ``train_step``)."""

    def __init__(self, ema: EMATeacher, warmup: bool = True):
        super().__init__()
        self.ema = ema
        self.warmup = warmup

    def on_train_batch_end(self, batch, logs=None):
        step = self.model.optimizer.iterations if self.warmup else None
        self.ema.update(step)
