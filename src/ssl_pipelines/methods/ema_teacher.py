"""The EMA-teacher base of Mean Teacher and HybridNet (METHODS.md §1.2): a student classifier,
its exponential-moving-average copy (the teacher) and the stability term between them."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.augment import random_translate_flip
from ssl_pipelines.data.streams import X_LABELED, X_UNLABELED, Y_LABELED
from ssl_pipelines.losses import sigmoid_rampup, softmax_mse
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.training.ema import EMATeacher, clone_for_ema
from ssl_pipelines.losses.precision import to_float32


def augment_view(x: tf.Tensor, shift: int, flip: bool) -> tf.Tensor:
    """One random view of ``x`` (translation by up to ``shift`` pixels, horizontal flips)."""
    return random_translate_flip(x, shift, flip) if shift or flip else x


def two_views(x: tf.Tensor, shift: int, flip: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """Two independent augmentations of ``x`` (student view, teacher view)."""
    return augment_view(x, shift, flip), augment_view(x, shift, flip)


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class EMATeacherModel(SSLModel):
    """A student ``backbone`` with an EMA teacher and the stability term ``λ_s·r(t)·Ω``.

    ``Ω = mean_all ||softmax(z_s) − softmax(sg(z_t))||²/C`` (:func:`~ssl_pipelines.losses.softmax_mse`),
    ``z_s`` the student logits on one augmentation and ``z_t`` the teacher's on another,
    ``r(t) = exp(−5(1 − t/T)²)`` the sigmoid ramp-up over ``T = stab_rampup_steps`` (METHODS.md
    §1.2-1.3). After each optimizer step the teacher is updated as ``θ' ← a·θ' + (1 − a)·θ``,
    ``a = min(1 − 1/(step + 1), ema_decay)`` (:class:`~ssl_pipelines.training.EMATeacher`).

    With ``lambda_stab > 0`` ``call(x)`` returns the **teacher** logits (the test-time
    classifier of Mean Teacher and HybridNet); with ``lambda_stab = 0`` there is no stability
    term, the teacher is neither run nor updated and ``call`` is the raw classifier.
    Subclasses implement ``compute_losses`` from :meth:`student_view`, :meth:`teacher_view`
    and :meth:`stability_term`.

    Args:
        backbone: the student classifier (inputs -> logits).
        teacher: its EMA copy (default: a clone of ``backbone``; passed when reloading).
        lambda_stab: ``λ_s`` (HybridNet code: 100 with softmax MSE / C).
        stab_rampup_steps: ``T`` in optimizer steps (0: no ramp-up).
        ema_decay: largest EMA decay ``a`` (HybridNet code 0.97).
        augment_shift, augment_flip: the random views, drawn inside ``train_step`` so that
            student and teacher see different augmentations (``train.augment``).

    Reference:
        Tarvainen & Valpola 2017, "Mean teachers are better role models"; Robert, Thome & Cord,
        ECCV 2018, Eq. 2 (Ω_stability), METHODS.md §1.2.
    """

    nested_models = ("backbone", "teacher")

    def __init__(self, backbone: keras.Model, teacher: keras.Model | None = None, lambda_stab: float = 100.0,
                 stab_rampup_steps: int = 0, ema_decay: float = 0.97, augment_shift: int = 0,
                 augment_flip: bool = False, **kwargs):
        super().__init__(backbone, **kwargs)
        # the teacher stays "trainable" so that its batch norm uses batch statistics in training
        # mode, as the reference code's EMA model does; only student variables get gradients
        self.teacher = teacher if teacher is not None else clone_for_ema(backbone, name="teacher", trainable=True)
        self.ema = EMATeacher(backbone, ema_decay, teacher=self.teacher, trainable_only=True)
        self.lambda_stab = float(lambda_stab)
        self.stab_rampup_steps = int(stab_rampup_steps)
        self.ema_decay = float(ema_decay)
        self.augment_shift = int(augment_shift)
        self.augment_flip = bool(augment_flip)
        # False when the stream already augments the (labeled-only) batches: a model whose terms read
        # no unlabeled image needs one view per image, which the stream draws off the step's path
        self.augment_in_step = True

    @property
    def use_teacher(self) -> bool:
        return self.lambda_stab > 0

    @property
    def reads_unlabeled(self) -> bool:
        """Whether any loss term reads the unlabeled images (here: the stability term). When not,
        the pipeline streams labeled batches only (no unlabeled batch built per step for nothing)."""
        return self.use_teacher

    @property
    def student_variables(self) -> list:
        """The variables the optimizer updates (never the teacher's)."""
        return self.backbone.trainable_variables

    # === Forward ===
    def call(self, x, training: bool = False):
        return self.teacher(x, training=training) if self.use_teacher else self.backbone(x, training=training)

    def student_logits(self, x, training: bool = False):
        return to_float32(self.backbone(x, training=training))

    # === Pieces of the losses ===
    @staticmethod
    def batch_inputs(batch) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(x, y, n_l)``: labeled then unlabeled inputs, the labels, the labeled count."""
        x_l = batch[X_LABELED]
        x = tf.concat([x_l, batch[X_UNLABELED]], 0) if X_UNLABELED in batch else x_l
        return x, batch[Y_LABELED], tf.shape(x_l)[0]

    def student_view(self, x, training: bool):
        return augment_view(x, self.augment_shift, self.augment_flip) if training and self.augment_in_step else x

    def teacher_view(self, x, training: bool):
        """The teacher's own augmentation (drawn only when the stability term is on)."""
        return augment_view(x, self.augment_shift, self.augment_flip) if training else x

    def step(self):
        return self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0

    def stability_term(self, student_logits, x_teacher, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """``(Ω, λ_s·r(t))``: the softmax MSE to the stop-gradient teacher logits and its weight."""
        target = tf.stop_gradient(self.teacher(x_teacher, training=training))
        weight = self.lambda_stab * sigmoid_rampup(self.step(), self.stab_rampup_steps)
        return tf.reduce_mean(softmax_mse(student_logits, target)), weight

    # === Training ===
    def train_step(self, data):
        batch = self.as_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_losses(batch, training=True)
        self.apply_gradients(tape, terms["loss"], self.student_variables)
        if self.use_teacher:
            self.ema.update(self.optimizer.iterations)
        return self.update_trackers(terms, batch[Y_LABELED], terms["_logits_labeled"])

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(lambda_stab=self.lambda_stab, stab_rampup_steps=self.stab_rampup_steps,
                      ema_decay=self.ema_decay, augment_shift=self.augment_shift, augment_flip=self.augment_flip)
        return config
