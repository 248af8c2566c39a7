"""Mean Teacher (Tarvainen & Valpola, NeurIPS 2017): the stability-only baseline of HybridNet's
tables (METHODS.md §1.2 "Mean Teacher version", §1.4 Table 1 "classification + stability")."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.losses import cross_entropy_from_logits
from ssl_pipelines.methods.ema_teacher import EMATeacherModel, two_views

__all__ = ["MeanTeacher", "two_views"]

#: config keys of models saved before the stability keys were shared with HybridNet
_LEGACY_KEYS = {"stability_weight": "lambda_stab", "stability_rampup_steps": "stab_rampup_steps"}


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class MeanTeacher(EMATeacherModel):
    """Cross-entropy on labeled data + ramped-up consistency with an EMA teacher on all data:
    the stability-only case of :class:`~ssl_pipelines.methods.HybridNet`.

    ``L = mean_labeled CE(z_s, y) + λ_s·r(t)·mean_all ||softmax(z_s) − softmax(sg(z_t))||²/C``
    (METHODS.md §1.2-1.3; :class:`~ssl_pipelines.methods.ema_teacher.EMATeacherModel` has the
    teacher, the ramp-up and the arguments).

    Example:
        >>> from ssl_pipelines import models
        >>> net = models.build_backbone("small_cnn", (8, 8, 1), 10)
        >>> mt = MeanTeacher(net, lambda_stab=100.0, stab_rampup_steps=75, ema_decay=0.97)

    Reference:
        Tarvainen & Valpola 2017, "Mean teachers are better role models"; Robert, Thome & Cord,
        ECCV 2018, Eq. 2 (Ω_stability), METHODS.md §1.2.
    """

    loss_terms = ("cross_entropy", "stability", "stability_weight")

    def compute_losses(self, batch, training=True):
        x, y, n_l = self.batch_inputs(batch)
        x_s = self.student_view(x, training)
        x_t = self.teacher_view(x, training) if self.use_teacher else None  # drawn in the original order
        logits = self.backbone(x_s, training=training)
        ce = tf.reduce_mean(cross_entropy_from_logits(y, logits[:n_l]))
        terms = {"cross_entropy": ce, "stability": tf.constant(0.0), "stability_weight": tf.constant(0.0),
                 "_logits_labeled": logits[:n_l]}
        total = ce
        if self.use_teacher:
            stab, weight = self.stability_term(logits, x_t, training)
            total += weight * stab
            terms["stability"], terms["stability_weight"] = stab, weight
        terms["loss"] = total
        return terms

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = {_LEGACY_KEYS.get(k, k): v for k, v in config.items()}
        return super().from_config(config)
