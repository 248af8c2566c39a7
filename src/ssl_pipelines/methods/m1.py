"""M1: the latent-feature discriminative model of Kingma et al. 2014 (METHODS.md §5.1).

A VAE (``q(z|x)``, ``p(z) = N(0, I)``, ``p(x|z)``) trained on every training image by maximizing
the ELBO (paper Eq. 5), then a classifier on the posterior means ``mu(x)`` of the labeled images.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.data.streams import X_LABELED, X_UNLABELED
from ssl_pipelines.layers.sampling import GaussianSampling
from ssl_pipelines.losses.vae import decoder_log_likelihood, gaussian_kl, vae_loss
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.models.vae import check_likelihood


def dynamic_binarize(x: tf.Tensor, seed_generator) -> tf.Tensor:
    """Draw binary pixels ``b ~ Bernoulli(x)`` for ``x`` in [0, 1], afresh every call.

    The reference code's ``np.random.binomial`` on every minibatch (METHODS.md §5.1, §5.6).
    """
    u = keras.random.uniform(keras.ops.shape(x), dtype=x.dtype, seed=seed_generator)
    return keras.ops.cast(u < x, x.dtype)


class VariationalNoise:
    """The likelihood and the noise of the VAE-style models (M1, M2): reparameterization sampler
    and dynamic binarization, seeded from ``seed`` (sampler) and ``seed + 1`` (binarization)."""

    def init_noise(self, likelihood: str, binarize: bool, seed: int | None) -> None:
        self.likelihood = check_likelihood(likelihood)
        self.binarize = bool(binarize) and likelihood == "bernoulli"
        self.seed = seed
        self.sampler = GaussianSampling(seed=seed, name="sampling")
        self.noise = keras.random.SeedGenerator(None if seed is None else seed + 1)

    def prepare_inputs(self, x):
        """Dynamic binarization (Bernoulli likelihood with ``binarize``), else ``x`` unchanged."""
        return dynamic_binarize(x, self.noise) if self.binarize else x


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class M1(VariationalNoise, SSLModel):
    """VAE feature extractor plus a classifier on the latent means (Kingma et al. 2014, "M1").

    ``train_step`` maximizes the ELBO ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` (Eq. 5) on the
    labeled *and* unlabeled images of each batch (labels unused), with one reparameterized sample
    and the closed-form KL. The classifier (``backbone``, inputs ``(Z,)`` -> logits) is trained
    afterwards on ``mu(x)`` of the labeled images (e.g. with ``SupervisedClassifier(m1.backbone)``
    on :meth:`encode` features; the paper used a TSVM). ``call(x) = backbone(mu(x))``.

    Args:
        backbone: classifier on latent means, ``(B, Z)`` -> ``(B, C)`` logits.
        encoder: ``x -> [mean, log_var]`` (:func:`ssl_pipelines.models.gaussian_encoder`).
        decoder: ``z -> logits`` (Bernoulli) or ``[mean, log_var]`` (Gaussian), flattened
            (:func:`ssl_pipelines.models.decoder`).
        likelihood: ``"bernoulli"`` (images in [0, 1]) or ``"gaussian"`` (continuous data).
        binarize: Bernoulli only: dynamically binarize the inputs every batch (§5.6).
        seed: seed of the sampling and binarization noise.
        kl_warmup_steps: 0 (the paper) or ``T``: the KL term of the training loss is weighted by
            ``min(1, t / T)`` at optimizer step ``t`` (deterministic warm-up as in
            ``wohlert/semi-supervised-pytorch``, Sonderby et al. 2016), the ELBO itself from ``T``
            on. Keeps units from collapsing to the prior while the decoder is still weak; the
            tracked ``kl_z`` is the unweighted KL.

    Call arguments:
        x: ``(B, ...)`` inputs. Returns ``(B, C)`` logits.

    Example:
        >>> from ssl_pipelines import models, methods
        >>> enc = models.gaussian_encoder((8, 8, 1), latent_dim=4, hidden_units=[16])
        >>> dec = models.decoder(4, (8, 8, 1), hidden_units=[16])
        >>> clf = models.build_backbone("mlp", (4,), 10, hidden_units=[])
        >>> m1 = methods.M1(clf, enc, dec)

    Reference:
        Kingma, Rezende, Mohamed, Welling, NeurIPS 2014 (arXiv 1406.5298), §2.1 and Eq. (5);
        code ``dpkingma/nips14-ssl`` ``gpulearn_z_x.py``.
    """

    nested_models = ("backbone", "encoder", "decoder")
    counted_parts = nested_models
    loss_terms = ("reconstruction", "kl_z")

    def __init__(self, backbone: keras.Model, encoder: keras.Model, decoder: keras.Model,
                 likelihood: str = "bernoulli", binarize: bool = True, seed: int | None = None,
                 kl_warmup_steps: int = 0, **kwargs):
        super().__init__(backbone, **kwargs)
        # === Networks ===
        self.encoder = encoder
        self.decoder = decoder
        self.init_noise(likelihood, binarize, seed)
        if isinstance(kl_warmup_steps, bool) or not isinstance(kl_warmup_steps, int) or kl_warmup_steps < 0:
            raise ConfigError(f"kl_warmup_steps must be a non-negative integer, got {kl_warmup_steps!r}")
        self.kl_warmup_steps = kl_warmup_steps

    # === Forward ===
    def encode(self, x, training: bool = False):
        """``[mean, log_var]`` of ``q(z|x)``."""
        return self.encoder(x, training=training)

    def call(self, x, training: bool = False):
        mean, _ = self.encode(x, training=training)
        return self.backbone(mean, training=training)

    def build(self, input_shape=None):
        self.built = True

    def decode_mean(self, z) -> tf.Tensor:
        """``E[x|z]`` (sigmoid of the logits, or the Gaussian mean), flattened ``(B, D)``."""
        out = self.decoder(z, training=False)
        return keras.ops.sigmoid(out) if self.likelihood == "bernoulli" else out[0]

    # === Losses ===
    def compute_losses(self, batch, training=True):
        x = batch[X_LABELED]
        if X_UNLABELED in batch:
            x = keras.ops.concatenate([x, batch[X_UNLABELED]], axis=0)
        x = self.prepare_inputs(x)
        mean, log_var = self.encoder(x, training=training)
        z = self.sampler([mean, log_var])
        x_flat = keras.ops.reshape(x, (keras.ops.shape(x)[0], -1))
        log_px = decoder_log_likelihood(x_flat, self.decoder(z, training=training), self.likelihood)
        kl = gaussian_kl(mean, log_var)
        loss = tf.reduce_mean(vae_loss(log_px, kl_weight(self, training) * kl))
        return {"loss": loss, "reconstruction": -tf.reduce_mean(log_px), "kl_z": tf.reduce_mean(kl)}

    @property
    def metrics(self):
        return list(self.trackers.values())  # no labels in the VAE stage: no accuracy

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "likelihood": self.likelihood, "binarize": self.binarize, "seed": self.seed,
            "kl_warmup_steps": self.kl_warmup_steps,
        })
        return config



def kl_weight(model: M1, training: bool):
    """``min(1, t / kl_warmup_steps)`` at optimizer step ``t`` while training with a warm-up, else 1."""
    if not (training and model.kl_warmup_steps) or getattr(model, "optimizer", None) is None:
        return 1.0
    t = tf.cast(model.optimizer.iterations, tf.float32)
    return tf.minimum(1.0, t / float(model.kl_warmup_steps))


def active_latent_units(means: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Indices of latent units whose posterior mean varies across images: ``std(mu_j) > threshold``.

    The reference M1+M2 code drops the others (std of the ``q`` means over 1000 unlabeled images
    <= 0.1, METHODS.md §5.1); they carry no information about ``x``.
    """
    std = np.asarray(means).std(axis=0)
    return np.flatnonzero(std > float(threshold)).astype(np.int64)
