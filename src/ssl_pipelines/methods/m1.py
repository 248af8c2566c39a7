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
from ssl_pipelines.losses.precision import to_float32


def dynamic_binarize(x: tf.Tensor, seed_generator) -> tf.Tensor:
    """Draw binary pixels ``b ~ Bernoulli(x)`` for ``x`` in [0, 1], afresh every call.

    The reference code's ``np.random.binomial`` on every minibatch (METHODS.md §5.1, §5.6).
    """
    u = keras.random.uniform(keras.ops.shape(x), dtype=x.dtype, seed=seed_generator)
    return keras.ops.cast(u < x, x.dtype)


def binarize_once(x, seed: int) -> np.ndarray:
    """Binary pixels ``b ~ Bernoulli(x)`` drawn once with a seeded generator, for ``x`` in [0, 1]:
    a fixed binarization of a set (e.g. M2's labeled images, ``model.binarize_labeled: fixed``, as
    ``wohlert/semi-supervised-pytorch`` keeps its labeled batches' binarization fixed). Dynamic
    binarization of the result is the identity (``u < 1`` and ``u < 0`` do not depend on ``u``)."""
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    return (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)


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
        kl_weight: ``beta`` in (0, 1], the KL term's weight once warmed up (1: the ELBO, the paper;
            below 1 the VAE keeps more information in ``z``, a beta-VAE with ``beta < 1``).

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
                 kl_warmup_steps: int = 0, kl_weight: float = 1.0, **kwargs):
        super().__init__(backbone, **kwargs)
        # === Networks ===
        self.encoder = encoder
        self.decoder = decoder
        self.init_noise(likelihood, binarize, seed)
        if isinstance(kl_warmup_steps, bool) or not isinstance(kl_warmup_steps, int) or kl_warmup_steps < 0:
            raise ConfigError(f"kl_warmup_steps must be a non-negative integer, got {kl_warmup_steps!r}")
        self.kl_warmup_steps = kl_warmup_steps
        if isinstance(kl_weight, bool) or not isinstance(kl_weight, (int, float)) or not 0.0 < kl_weight <= 1.0:
            raise ConfigError(f"kl_weight must be a number in (0, 1], got {kl_weight!r}")
        self.kl_weight = float(kl_weight)

    # === Forward ===
    def encode(self, x, training: bool = False):
        """``[mean, log_var]`` of ``q(z|x)`` (float32 in any precision)."""
        return to_float32(self.encoder(x, training=training))

    def call(self, x, training: bool = False):
        mean, _ = self.encode(x, training=training)
        return self.backbone(mean, training=training)

    def build(self, input_shape=None):
        self.built = True

    def decode_mean(self, z) -> tf.Tensor:
        """``E[x|z]`` (sigmoid of the logits, or the Gaussian mean), flattened ``(B, D)``."""
        out = to_float32(self.decoder(z, training=False))
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
        loss = tf.reduce_mean(vae_loss(log_px, kl_factor(self, training) * kl))
        return {"loss": loss, "reconstruction": -tf.reduce_mean(log_px), "kl_z": tf.reduce_mean(kl)}

    @property
    def metrics(self):
        return list(self.trackers.values())  # no labels in the VAE stage: no accuracy

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "likelihood": self.likelihood, "binarize": self.binarize, "seed": self.seed,
            "kl_warmup_steps": self.kl_warmup_steps, "kl_weight": self.kl_weight,
        })
        return config



def kl_factor(model: M1, training: bool):
    """The KL term's weight while training: ``kl_weight * min(1, t / kl_warmup_steps)`` at optimizer
    step ``t`` (``kl_weight`` alone without a warm-up); 1 (the ELBO) outside training."""
    beta = getattr(model, "kl_weight", 1.0)
    if not training:
        return 1.0
    if not model.kl_warmup_steps or getattr(model, "optimizer", None) is None:
        return beta
    t = tf.cast(model.optimizer.iterations, tf.float32)
    return beta * tf.minimum(1.0, t / float(model.kl_warmup_steps))


def active_latent_units(means: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Indices of latent units whose posterior mean varies across images: ``std(mu_j) > threshold``.

    The reference M1+M2 code drops the others (std of the ``q`` means over 1000 unlabeled images
    <= 0.1, METHODS.md §5.1); they carry no information about ``x``.
    """
    std = np.asarray(means).std(axis=0)
    return np.flatnonzero(std > float(threshold)).astype(np.int64)


def knn_graph(x: np.ndarray, neighbors: int, chunk: int = 1024):
    """Symmetric 0/1 affinity ``W`` (scipy CSR, ``(N, N)``, zero diagonal): ``W_ij = 1`` if ``j`` is
    among the ``neighbors`` nearest (Euclidean) points of ``i`` or ``i`` among those of ``j``."""
    from scipy import sparse

    x = np.asarray(x, np.float64).reshape(len(x), -1)
    n = len(x)
    if not 0 < neighbors < n:
        raise ConfigError(f"neighbors must be in [1, {n - 1}] for {n} points, got {neighbors!r}")
    sq = (x * x).sum(1)
    cols = np.empty((n, neighbors), np.int64)
    for start in range(0, n, chunk):
        d = sq[start:start + chunk, None] - 2.0 * x[start:start + chunk] @ x.T + sq[None]
        d[np.arange(len(d)), np.arange(start, start + len(d))] = np.inf  # not its own neighbour
        cols[start:start + chunk] = np.argpartition(d, neighbors - 1, axis=1)[:, :neighbors]
    w = sparse.csr_matrix((np.ones(n * neighbors), (np.repeat(np.arange(n), neighbors), cols.ravel())), shape=(n, n))
    return w.maximum(w.T)


def label_spreading_scores(z_labeled: np.ndarray, y_labeled: np.ndarray, z_unlabeled: np.ndarray,
                           num_classes: int, neighbors: int = 10, alpha: float = 0.9,
                           iterations: int = 100) -> np.ndarray:
    """Class scores ``F`` of the unlabeled points, ``(N_u, C)``, by label spreading on a k-nearest-neighbour
    graph of all latents (Zhou, Bousquet, Lal, Weston, Schoelkopf 2004, "Learning with local and global
    consistency", Eq. 1 iterated, whose limit is Eq. 2, ``F* = (1 - alpha)(I - alpha S)^{-1} Y``):

        S = D^{-1/2} W D^{-1/2},   F(t+1) = alpha S F(t) + (1 - alpha) Y,   F(0) = Y

    with ``W`` from :func:`knn_graph` and ``Y`` the one-hot labels (zero rows for unlabeled points).
    """
    if not 0.0 < float(alpha) < 1.0:
        raise ConfigError(f"alpha must be a number in (0, 1), got {alpha!r}")
    y_labeled = np.asarray(y_labeled).astype(np.int64)
    n_l = len(y_labeled)
    w = knn_graph(np.concatenate([np.asarray(z_labeled), np.asarray(z_unlabeled)]), int(neighbors))
    d = np.asarray(w.sum(1)).ravel()
    inv = 1.0 / np.sqrt(np.maximum(d, 1e-12))
    s = w.multiply(inv[:, None]).multiply(inv[None, :]).tocsr()
    y = np.zeros((w.shape[0], int(num_classes)))
    y[np.arange(n_l), y_labeled] = 1.0
    f = y.copy()
    for _ in range(int(iterations)):
        f = alpha * (s @ f) + (1.0 - alpha) * y
    return f[n_l:]


def label_spreading(z_labeled: np.ndarray, y_labeled: np.ndarray, z_unlabeled: np.ndarray, num_classes: int,
                    neighbors: int = 10, alpha: float = 0.9, iterations: int = 100) -> np.ndarray:
    """Transductive labels of ``z_unlabeled``: ``argmax_c F_ic`` of :func:`label_spreading_scores`,
    ``(N_u,)`` int64. It stands in for the paper's transductive SVM on ``z`` (METHODS.md §5.1): the
    labels of the unlabeled latents, on which M1's classifier is then trained with the labeled ones.
    """
    scores = label_spreading_scores(z_labeled, y_labeled, z_unlabeled, num_classes, neighbors, alpha, iterations)
    return scores.argmax(1).astype(np.int64)
