"""HybridNet loss terms and ramp-up schedules (Robert, Thome & Cord, ECCV 2018; METHODS.md §1.2-1.3).

Pure functions of tensors. Per-example outputs ``(B,)`` where the paper averages over a batch, so
methods can mask or weight them. Total loss, paper Eq. 2::

    L = λ_c·L_cls + λ_r·L_rec + Σ_{b,l} λ_{r,b,l}·L_rec-inter(b,l) + λ_s·Ω_stability

``L_cls`` is :func:`ssl_pipelines.losses.cross_entropy_from_logits` and ``Ω_stability`` is
:func:`ssl_pipelines.losses.softmax_mse` against the EMA teacher (both in ``classification``).
"""

from __future__ import annotations

import math

import tensorflow as tf

from ssl_pipelines.losses.precision import float32_inputs


def _per_example_mse(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Mean over all non-batch axes of ``(a − b)²`` -> ``(B,)`` (the code's ``samplewise_mse``)."""
    d = tf.square(a - b)
    return tf.reduce_mean(tf.reshape(d, (tf.shape(d)[0], -1)), axis=-1)


@float32_inputs
def reconstruction_mse(x: tf.Tensor, x_hat_c: tf.Tensor, x_hat_u: tf.Tensor) -> tf.Tensor:
    """Unbalanced final reconstruction ``||x̂_c + x̂_u − x||²`` per example (paper Eq. 2 term
    ``L_rec``, §3.2; per-pixel mean as in the code). Returns ``(B,)``."""
    return _per_example_mse(x_hat_c + x_hat_u, x)


@float32_inputs
def branch_errors(x: tf.Tensor, x_hat_c: tf.Tensor, x_hat_u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Partial errors ``(||x̂_c − x||², ||x̂_u − x||²)`` per example, used to pick the branch."""
    return _per_example_mse(x_hat_c, x), _per_example_mse(x_hat_u, x)


@float32_inputs
def balanced_reconstruction_mse(x: tf.Tensor, x_hat_c: tf.Tensor, x_hat_u: tf.Tensor) -> tf.Tensor:
    """Per-sample branch-balanced final reconstruction ("rec-balanced", paper §3.3, Eq. 3).

    For each example, the gradient of ``||x̂_c + x̂_u − x||²`` is routed only into the branch
    whose *partial* error is larger::

        if ||x̂_u − x||² ≥ ||x̂_c − x||²:  ℓ = ||x̂_u + sg(x̂_c) − x||²    (ties: unsupervised)
        else:                            ℓ = ||sg(x̂_u) + x̂_c − x||²

    The value equals :func:`reconstruction_mse`; only the gradient differs. Returns ``(B,)``.
    """
    err_c, err_u = branch_errors(x, x_hat_c, x_hat_u)
    to_c = tf.cast(err_c > err_u, x.dtype)
    rec_c = _per_example_mse(x_hat_c + tf.stop_gradient(x_hat_u), x)
    rec_u = _per_example_mse(tf.stop_gradient(x_hat_c) + x_hat_u, x)
    return to_c * rec_c + (1.0 - to_c) * rec_u


@float32_inputs
def intermediate_reconstruction_mse(h_hat: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
    """``||ĥ_{b,l} − sg(h_{b,l})||²`` per example (paper Eq. 2 term ``L_rec-inter``, §3.2).

    ``h`` is the encoder activation after a pooling stage, ``ĥ`` the decoder activation before
    the matching unpooling. The target is detached (the code's ``h_l.detach()``, METHODS.md §1.6):
    no gradient reaches the encoder through ``h``. Returns ``(B,)``.
    """
    return _per_example_mse(h_hat, tf.stop_gradient(h))


@float32_inputs
def sigmoid_rampup(step, length) -> tf.Tensor:
    """``exp(−5·(1 − t)²)`` with ``t = clip(step / length, 0, 1)``; 1 when ``length <= 0``
    (Laine & Aila 2017; HybridNet ``ramps.py``; METHODS.md §1.3)."""
    step = tf.cast(step, tf.float32)
    length = tf.cast(length, tf.float32)
    t = tf.clip_by_value(step / tf.maximum(length, 1e-12), 0.0, 1.0)
    return tf.where(length > 0, tf.exp(-5.0 * tf.square(1.0 - t)), 1.0)


@float32_inputs
def cosine_rampdown(step, length) -> tf.Tensor:
    """``0.5·(cos(π·t) + 1)`` with ``t = clip(step / length, 0, 1)``: 1 -> 0 at ``length``; 1 when
    ``length <= 0`` (the cosine decay of ``lambda_rec`` / ``lambda_rec_inter``, METHODS.md §1.3)."""
    step = tf.cast(step, tf.float32)
    length = tf.cast(length, tf.float32)
    t = tf.clip_by_value(step / tf.maximum(length, 1e-12), 0.0, 1.0)
    return tf.where(length > 0, 0.5 * (tf.cos(math.pi * t) + 1.0), 1.0)
