"""Mean Teacher (Tarvainen & Valpola, NeurIPS 2017): the stability-only baseline of HybridNet's
tables (METHODS.md §1.2 "Mean Teacher version", §1.4 Table 1 "classification + stability")."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.augment import random_translate_flip
from ssl_pipelines.data.streams import X_LABELED, X_UNLABELED, Y_LABELED
from ssl_pipelines.losses import cross_entropy_from_logits, sigmoid_rampup, softmax_mse
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.training.ema import EMATeacher, clone_for_ema


def two_views(x: tf.Tensor, shift: int, flip: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """Two independent augmentations of ``x`` (student view, teacher view)."""
    if not shift and not flip:
        return x, x
    return random_translate_flip(x, shift, flip), random_translate_flip(x, shift, flip)


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class MeanTeacher(SSLModel):
    """Cross-entropy on labeled data + ramped-up consistency with an EMA teacher on all data.

    ``L = mean_labeled CE(z_s, y) + λ_s·r(t)·mean_all ||softmax(z_s) − softmax(sg(z_t))||²/C``
    with ``z_s`` the student logits on one augmentation and ``z_t`` the teacher logits on another,
    ``r(t) = exp(−5(1 − t/T)²)`` (METHODS.md §1.2-1.3; Mean Teacher Eq. in §3). After each
    optimizer step the teacher is updated as ``θ' ← a·θ' + (1 − a)·θ``,
    ``a = min(1 − 1/(step + 1), ema_decay)`` (:class:`~ssl_pipelines.training.EMATeacher`).

    ``call(x)`` returns the **teacher** logits (the test-time classifier of Mean Teacher and
    HybridNet); :meth:`student_logits` gives the raw classifier's.

    Args:
        backbone: the student classifier (inputs -> logits).
        teacher: its EMA copy (default: a clone of ``backbone``; passed when reloading).
        ema_decay: largest EMA decay ``a``.
        stability_weight: ``λ_s`` (HybridNet code: 100; Mean Teacher CIFAR: 100 with softmax MSE/C).
        stability_rampup_steps: ``T`` in optimizer steps (0: no ramp-up).
        augment_shift, augment_flip: the two random views (translation in pixels, flips), drawn
            inside ``train_step`` so that student and teacher see different augmentations.

    Reference:
        Tarvainen & Valpola 2017, "Mean teachers are better role models"; Robert, Thome & Cord,
        ECCV 2018, Eq. 2 (Ω_stability), METHODS.md §1.2.
    """

    nested_models = ("backbone", "teacher")
    loss_terms = ("cross_entropy", "stability", "stability_weight")

    def __init__(self, backbone: keras.Model, teacher: keras.Model | None = None, ema_decay: float = 0.99,
                 stability_weight: float = 100.0, stability_rampup_steps: int = 0, augment_shift: int = 0,
                 augment_flip: bool = False, **kwargs):
        super().__init__(backbone, **kwargs)
        # the teacher stays "trainable" so that its batch norm uses batch statistics in training
        # mode, as the reference code's EMA model does; only the student's variables get gradients
        self.teacher = teacher if teacher is not None else clone_for_ema(backbone, name="teacher", trainable=True)
        self.ema = EMATeacher(backbone, ema_decay, teacher=self.teacher, trainable_only=True)
        self.ema_decay = float(ema_decay)
        self.stability_weight = float(stability_weight)
        self.stability_rampup_steps = int(stability_rampup_steps)
        self.augment_shift = int(augment_shift)
        self.augment_flip = bool(augment_flip)

    # === Forward ===
    def call(self, x, training: bool = False):
        return self.teacher(x, training=training)

    def student_logits(self, x, training: bool = False):
        return self.backbone(x, training=training)

    # === Losses ===
    def compute_losses(self, batch, training=True):
        x_l, y = batch[X_LABELED], batch[Y_LABELED]
        n_l = tf.shape(x_l)[0]
        x = tf.concat([x_l, batch[X_UNLABELED]], 0) if X_UNLABELED in batch else x_l
        x_s, x_t = two_views(x, self.augment_shift, self.augment_flip) if training else (x, x)
        logits = self.backbone(x_s, training=training)
        ce = tf.reduce_mean(cross_entropy_from_logits(y, logits[:n_l]))
        step = self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0
        weight = self.stability_weight * sigmoid_rampup(step, self.stability_rampup_steps)
        target = tf.stop_gradient(self.teacher(x_t, training=training))
        stab = tf.reduce_mean(softmax_mse(logits, target))
        return {"loss": ce + weight * stab, "cross_entropy": ce, "stability": stab,
                "stability_weight": weight, "_logits_labeled": logits[:n_l]}

    # === Training ===
    def train_step(self, data):
        batch = self.as_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_losses(batch, training=True)
        self.apply_gradients(tape, terms["loss"], self.backbone.trainable_variables)
        self.ema.update(self.optimizer.iterations)
        return self.update_trackers(terms, batch[Y_LABELED], terms["_logits_labeled"])

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            ema_decay=self.ema_decay,
            stability_weight=self.stability_weight, stability_rampup_steps=self.stability_rampup_steps,
            augment_shift=self.augment_shift, augment_flip=self.augment_flip,
        )
        return config
