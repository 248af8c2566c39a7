"""Supervised-only baseline: cross-entropy on the labeled part of each batch.

The floor every SSL table compares against (e.g. Kingma et al. 2014 Table 1 "NN", HybridNet
Table 1 "classification", R2-D2 stage 1). Unlabeled inputs in the batch, if any, are ignored.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ssl_pipelines.data.streams import X_LABELED, Y_LABELED
from ssl_pipelines.losses import cross_entropy_from_logits
from ssl_pipelines.methods.base import SSLModel


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class SupervisedClassifier(SSLModel):
    """Cross-entropy on labeled examples only.

    Args:
        backbone: classifier mapping inputs to logits.

    Example:
        >>> from ssl_pipelines import models, methods
        >>> net = models.build_backbone("mlp", (8, 8, 1), 10, hidden_units=[64])
        >>> model = methods.SupervisedClassifier(net)
        >>> model.compile(optimizer="adam")
    """

    loss_terms = ("cross_entropy",)

    def compute_losses(self, batch, training=True):
        logits = self(batch[X_LABELED], training=training)
        ce = tf.reduce_mean(cross_entropy_from_logits(batch[Y_LABELED], logits))
        return {"loss": ce, "cross_entropy": ce, "_logits_labeled": logits}
