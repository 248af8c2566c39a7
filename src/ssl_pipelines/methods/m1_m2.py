"""M1+M2: M2 trained on the latents of a pretrained M1 (Kingma et al. 2014, METHODS.md §5.1)."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.streams import X_LABELED, X_UNLABELED
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.methods.m1 import M1
from ssl_pipelines.methods.m2 import M2


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class M1M2(SSLModel):
    """The stacked model ``p(y) p(z2) p(z1|y,z2) p(x|z1)``: a frozen M1 feeding an M2 on ``z1``.

    ``train_step`` encodes each batch with the (frozen) M1 encoder, **resamples**
    ``z1 ~ q(z1|x) = N(mu, sigma^2)`` every batch, keeps only the ``active_units`` of ``z1``
    (the reference code drops units whose posterior means barely vary, see
    :func:`ssl_pipelines.methods.m1.active_latent_units`) and takes one M2 step (Eqs. 6-9) on
    them; ``m2`` should use a Gaussian likelihood (``p(z1|y,z2)`` with learned mean and
    log-variance) and no binarization. ``call(x) = m2(mu(x)[active_units])``: the posterior
    **mean** at test time. Only ``m2``'s weights are trained.

    Args:
        m1: a pretrained :class:`~ssl_pipelines.methods.M1` (its encoder is used, frozen; its
            decoder maps ``z1`` back to images for the sample grids).
        m2: an :class:`~ssl_pipelines.methods.M2` whose inputs are ``(len(active_units),)``.
        active_units: indices of the ``z1`` units to keep (all if None).
        sample_latents: train on ``z1 ~ q(z1|x)`` resampled every batch (the reference code), or,
            if False, on the posterior means ``mu(x)`` (the test-time input). For a nearly
            collapsed M1, whose weakly active units have a posterior std near 1 but means that vary
            by ~0.2, resampling drowns the information those units carry.

    Call arguments:
        x: ``(B, ...)`` raw inputs. Returns ``(B, C)`` logits of ``q(y|z1)``.

    Reference:
        Kingma, Rezende, Mohamed, Welling, NeurIPS 2014 (arXiv 1406.5298), §2.3 ("stacked
        generative semi-supervised model") and Table 1; code ``dpkingma/nips14-ssl``
        ``run_2layer_ssl.py``.
    """

    nested_models = ("m1", "m2")
    loss_terms = M2.loss_terms

    def __init__(self, m1: M1, m2: M2, active_units=None, sample_latents: bool = True, **kwargs):
        super().__init__(m2.backbone, **kwargs)
        self.m1 = m1
        self.m2 = m2
        self.m1.trainable = False
        self.active_units = None if active_units is None else [int(i) for i in active_units]
        self.sample_latents = bool(sample_latents)

    # === Forward ===
    def select(self, z1):
        return z1 if self.active_units is None else tf.gather(z1, self.active_units, axis=-1)

    def latents(self, x, sample: bool):
        """``z1`` (active units) of ``x``: a posterior sample, or the posterior mean."""
        mean, log_var = self.m1.encode(x, training=False)
        z1 = self.m1.sampler([mean, log_var]) if sample else mean
        return tf.stop_gradient(self.select(z1))

    def call(self, x, training: bool = False):
        return self.m2(self.latents(x, sample=False), training=training)

    def build(self, input_shape=None):
        self.built = True

    # === Losses ===
    def compute_losses(self, batch, training=True):
        inner = dict(batch)
        inner[X_LABELED] = self.latents(batch[X_LABELED], sample=self.sample_latents)
        if X_UNLABELED in batch:
            inner[X_UNLABELED] = self.latents(batch[X_UNLABELED], sample=self.sample_latents)
        return self.m2.compute_losses(inner, training=training)

    def train_step(self, data):
        batch = self.as_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_losses(batch, training=True)
        self.apply_gradients(tape, terms["loss"], self.m2.trainable_variables)
        return self.update_trackers(terms, batch.get("y_labeled"), terms.get("_logits_labeled"))

    # === Generation ===
    def generate(self, z2, y) -> tf.Tensor:
        """Images ``E[x | z1 = E[z1|y,z2]]`` flattened ``(B, K, D)``; inactive ``z1`` units set to 0 (the prior mean)."""
        z1 = self.m2.generate(z2, y)
        if self.active_units is not None:
            shape = tf.shape(z1)
            dim = self.m1.encoder.outputs[0].shape[-1]
            flat = tf.reshape(z1, (-1, len(self.active_units)))
            full = tf.transpose(tf.scatter_nd(tf.constant(self.active_units)[:, None], tf.transpose(flat),
                                              (dim, tf.shape(flat)[0])))
            z1 = tf.reshape(full, tf.concat([shape[:-1], [dim]], 0))
        b, k = tf.shape(z1)[0], tf.shape(z1)[1]
        x = self.m1.decode_mean(tf.reshape(z1, (b * k, -1)))
        return tf.reshape(x, (b, k, -1))

    def reconstruct(self, x) -> tf.Tensor:
        """``E[x | mu(x)]`` through M1 (M2 only models the latents)."""
        mean, _ = self.m1.encode(x, training=False)
        return self.m1.decode_mean(mean)

    def count_params_by_part(self) -> dict[str, int]:
        def count(m):
            return int(sum(math.prod(v.shape) for v in m.weights))

        return {"total": count(self), "m1": count(self.m1), "m2": count(self.m2), "classifier": count(self.backbone)}

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["active_units"] = self.active_units  # m1 and m2 via nested_models; the classifier lives in m2
        config["sample_latents"] = self.sample_latents
        return config
