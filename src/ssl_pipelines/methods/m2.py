"""M2: the generative semi-supervised model of Kingma et al. 2014 (METHODS.md §5.1, §5.6)."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.data.streams import X_LABELED, X_UNLABELED, Y_LABELED
from ssl_pipelines.losses.classification import cross_entropy_from_logits, entropy_from_logits
from ssl_pipelines.losses.vae import (
    KL_ESTIMATORS,
    M2_BOUND_WEIGHTINGS,
    decoder_log_likelihood,
    gaussian_kl,
    gaussian_kl_sample,
    labeled_bound,
    m2_objective,
    m2_objective_mean,
    unlabeled_bound,
)
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.methods.m1 import VariationalNoise
from ssl_pipelines.losses.precision import to_float32


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class M2(VariationalNoise, SSLModel):
    """Generative SSL model ``p(y) p(z) p(x|y,z)`` with inference ``q(z|x,y) q(y|x)`` ("M2").

    Per batch (``x_labeled, y_labeled, x_unlabeled``), in one tape:

    * labeled bound ``L(x,y) = -(E_q[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || p(z)))`` (Eq. 6),
      one reparameterized sample, closed-form KL (``kl="sample"``: the one-sample estimate at that
      sample);
    * unlabeled bound ``U(x) = sum_y q(y|x) L(x,y) - H(q(y|x))`` (Eq. 7), ``y`` summed out exactly
      over all ``C`` classes (the batch is expanded to ``(B_u, C)`` rows, not sampled);
    * classification ``-log q(y|x)`` on the labeled images;
    * total ``J^alpha / N = (N_l/N) mean L + (N_u/N) mean U + alpha mean CE`` (Eq. 9 divided by
      ``N``, :func:`ssl_pipelines.losses.m2_objective`, ``bound_weighting="paper"``): the paper's
      ``alpha = 0.1 N`` on the same per-datapoint scale as the bounds, whatever the batch
      composition (§5.6); or ``mean L + mean U + alpha mean CE`` (``bound_weighting="mean"``,
      :func:`ssl_pipelines.losses.m2_objective_mean`): both sets weighted equally.

    Each term has its own tracker: ``labeled_bound``, ``unlabeled_bound``, ``classification``,
    ``entropy`` (mean ``H(q(y|x))`` on unlabeled images), ``kl_z``, ``reconstruction``
    (``-log p(x|y,z)`` of the labeled images). Prediction: ``call(x)`` = logits of ``q(y|x)``.

    Args:
        backbone: the classifier ``q(y|x)``, inputs -> ``C`` logits.
        encoder: ``[x, y (B, K, C)] -> [mean, log_var] (B, K, Z)``
            (:func:`ssl_pipelines.models.conditional_gaussian_encoder`).
        decoder: ``[z (B, K, Z), y (B, K, C)] ->`` logits ``(B, K, D)`` or ``[mean, log_var]``
            (:func:`ssl_pipelines.models.decoder` with ``num_classes=C``).
        num_classes: ``C`` (uniform prior ``p(y) = 1/C``).
        num_labeled, num_unlabeled: ``N_l`` and ``N_u`` of the training split (scale the terms).
        alpha: weight of the classification term per training point (paper 0.1, i.e. 0.1 N on sums).
        likelihood: ``"bernoulli"`` (images in [0, 1]) or ``"gaussian"`` (M1+M2's latents).
        binarize: Bernoulli only: dynamic binarization of every batch (§5.6).
        bound_weighting: ``"paper"`` (Eq. 9 per training point: ``N_l/N`` and ``N_u/N``) or ``"mean"``
            (unit weight on the mean labeled and the mean unlabeled bound).
        kl: ``"analytic"`` (closed-form ``KL(q(z|x,y) || p(z))``) or ``"sample"`` (``log q(z) - log p(z)``
            at the reparameterized sample).
        seed: seed of the sampling / binarization noise.

    Call arguments:
        x: ``(B, ...)`` inputs. Returns ``(B, C)`` logits of ``q(y|x)``.

    Example:
        >>> from ssl_pipelines import models, methods
        >>> clf = models.build_backbone("mlp", (8, 8, 1), 10, hidden_units=[16], activation="softplus")
        >>> enc = models.conditional_gaussian_encoder((8, 8, 1), 10, latent_dim=4, hidden_units=[16])
        >>> dec = models.decoder(4, (8, 8, 1), hidden_units=[16], num_classes=10)
        >>> m2 = methods.M2(clf, enc, dec, num_classes=10, num_labeled=100, num_unlabeled=1000)

    Reference:
        Kingma, Rezende, Mohamed, Welling, NeurIPS 2014 (arXiv 1406.5298), §2.2 and §3.1,
        Eqs. (6)-(9); code ``dpkingma/nips14-ssl`` ``anglepy/models/VAE_YZ_X.py``,
        ``learn_yz_x_ss.py``.
    """

    nested_models = ("backbone", "encoder", "decoder")
    counted_parts = nested_models
    loss_terms = ("labeled_bound", "unlabeled_bound", "classification", "entropy", "kl_z", "reconstruction")

    def __init__(self, backbone: keras.Model, encoder: keras.Model, decoder: keras.Model, num_classes: int,
                 num_labeled: int, num_unlabeled: int, alpha: float = 0.1, likelihood: str = "bernoulli",
                 binarize: bool = True, seed: int | None = None, bound_weighting: str = "paper",
                 kl: str = "analytic", **kwargs):
        super().__init__(backbone, **kwargs)
        # === Networks ===
        self.encoder = encoder
        self.decoder = decoder
        # === Objective ===
        if int(num_classes) < 2:
            raise ConfigError(f"num_classes must be >= 2, got {num_classes!r}")
        if int(num_labeled) < 1 or int(num_unlabeled) < 0:
            raise ConfigError(f"need num_labeled >= 1 and num_unlabeled >= 0, got {num_labeled!r}, {num_unlabeled!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
            raise ConfigError(f"alpha must be a non-negative number, got {alpha!r}")
        self.num_classes = int(num_classes)
        self.num_labeled = int(num_labeled)
        self.num_unlabeled = int(num_unlabeled)
        self.alpha = float(alpha)
        self.log_prior_y = -math.log(self.num_classes)
        if bound_weighting not in M2_BOUND_WEIGHTINGS:
            raise ConfigError(f"bound_weighting must be one of {list(M2_BOUND_WEIGHTINGS)}, got {bound_weighting!r}")
        if kl not in KL_ESTIMATORS:
            raise ConfigError(f"kl must be one of {list(KL_ESTIMATORS)}, got {kl!r}")
        self.bound_weighting = bound_weighting
        self.kl = kl
        self.init_noise(likelihood, binarize, seed)

    # === Bounds ===
    def bound_terms(self, x, y_rows, training: bool = True) -> dict[str, tf.Tensor]:
        """``L(x, y)`` for ``K`` label rows per image: ``y_rows`` is ``(B, K, C)`` one-hot.

        Returns ``{"bound", "log_px", "kl_z"}``, each ``(B, K)``.
        """
        mean, log_var = self.encoder([x, y_rows], training=training)
        z = self.sampler([mean, log_var])
        x_flat = keras.ops.reshape(x, (keras.ops.shape(x)[0], 1, -1))
        log_px = decoder_log_likelihood(x_flat, self.decoder([z, y_rows], training=training), self.likelihood)
        kl = gaussian_kl(mean, log_var) if self.kl == "analytic" else gaussian_kl_sample(z, mean, log_var)
        return {"bound": labeled_bound(log_px, kl, self.log_prior_y), "log_px": log_px, "kl_z": kl}

    def all_classes(self, batch_size) -> tf.Tensor:
        """``(B, C, C)``: every class as a one-hot row, for summing ``y`` out of ``U(x)``."""
        eye = tf.eye(self.num_classes)[None]
        return tf.tile(eye, [batch_size, 1, 1])

    def compute_losses(self, batch, training=True):
        x_l = self.prepare_inputs(batch[X_LABELED])
        y_l = tf.cast(batch[Y_LABELED], tf.int32)
        logits_l = self.backbone(x_l, training=training)
        ce = tf.reduce_mean(cross_entropy_from_logits(y_l, logits_l))
        lab = self.bound_terms(x_l, tf.one_hot(y_l, self.num_classes)[:, None, :], training)
        l_mean = tf.reduce_mean(lab["bound"])
        terms = {"labeled_bound": l_mean, "classification": ce, "kl_z": tf.reduce_mean(lab["kl_z"]),
                 "reconstruction": -tf.reduce_mean(lab["log_px"]), "_logits_labeled": logits_l}
        if X_UNLABELED in batch:
            x_u = self.prepare_inputs(batch[X_UNLABELED])
            logits_u = self.backbone(x_u, training=training)
            unl = self.bound_terms(x_u, self.all_classes(tf.shape(x_u)[0]), training)
            u_mean = tf.reduce_mean(unlabeled_bound(unl["bound"], logits_u))
            terms["unlabeled_bound"] = u_mean
            terms["entropy"] = tf.reduce_mean(entropy_from_logits(logits_u))
            terms["loss"] = self.objective(l_mean, u_mean, ce)
        else:  # labeled-only batch: the labeled part of the objective
            terms["loss"] = self.objective(l_mean, 0.0, ce)
        return terms

    def objective(self, labeled_bound_mean, unlabeled_bound_mean, classification_mean) -> tf.Tensor:
        """The total loss from the batch means, weighted as ``bound_weighting`` says (Eq. 9)."""
        if self.bound_weighting == "mean":
            return m2_objective_mean(labeled_bound_mean, unlabeled_bound_mean, classification_mean, self.alpha)
        return m2_objective(labeled_bound_mean, unlabeled_bound_mean, classification_mean, self.num_labeled,
                            self.num_unlabeled, self.alpha)

    # === Generation ===
    def generate(self, z, y) -> tf.Tensor:
        """``E[x|y,z]`` flattened: ``z (B, K, Z)``, ``y (B, K, C)`` one-hot -> ``(B, K, D)``."""
        z, y = to_float32(tf.convert_to_tensor(z)), to_float32(tf.convert_to_tensor(y))  # any precision in
        out = to_float32(self.decoder([z, y], training=False))  # float32 out
        return keras.ops.sigmoid(out) if self.likelihood == "bernoulli" else out[0]

    def reconstruct(self, x) -> tf.Tensor:
        """``E[x | argmax q(y|x), mean of q(z|x,y)]``, flattened ``(B, D)``."""
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.one_hot(tf.argmax(self.backbone(x, training=False), axis=-1), self.num_classes)[:, None, :]
        mean, _ = self.encoder([x, y], training=False)
        return self.generate(mean, y)[:, 0]

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes, "num_labeled": self.num_labeled,
            "num_unlabeled": self.num_unlabeled, "alpha": self.alpha, "likelihood": self.likelihood,
            "binarize": self.binarize, "seed": self.seed, "bound_weighting": self.bound_weighting, "kl": self.kl,
        })
        return config

