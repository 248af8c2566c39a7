"""Categorical losses shared by all methods (fixmatch ``libml`` style: tiny, pure, reused)."""

from __future__ import annotations

import tensorflow as tf

from ssl_pipelines.losses.precision import float32_inputs


@float32_inputs
def cross_entropy_from_logits(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example cross-entropy ``-log softmax(logits)[label]``.

    Args:
        labels: ``(B,)`` integer class indices.
        logits: ``(B, C)``.

    Returns:
        ``(B,)`` float tensor.
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)


@float32_inputs
def entropy_from_logits(logits: tf.Tensor) -> tf.Tensor:
    """Per-example Shannon entropy ``H(p) = -sum_c p_c log p_c`` of ``p = softmax(logits)``.

    The "specialization" loss of the inversion paper (Eq. 9) and R2-D2's entropy term L_e (§4.2).
    Returns ``(B,)``.
    """
    log_p = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1)


@float32_inputs
def categorical_kl_from_logits(p_logits: tf.Tensor, q_logits: tf.Tensor) -> tf.Tensor:
    """Per-example ``KL(p || q) = sum_c p_c (log p_c - log q_c)`` with ``p, q = softmax(logits)``.

    R2-D2's L_c is ``KL(prediction || pseudo-label)`` (METHODS.md §4.2, ``kl_reverse``).
    Returns ``(B,)``.
    """
    log_p = tf.nn.log_softmax(p_logits, axis=-1)
    log_q = tf.nn.log_softmax(q_logits, axis=-1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)


@float32_inputs
def softmax_mse(logits: tf.Tensor, target_logits: tf.Tensor) -> tf.Tensor:
    """Per-example ``||softmax(logits) - softmax(target_logits)||^2 / C``.

    The Mean Teacher / HybridNet stability (consistency) term (METHODS.md §1.2, code form).
    Returns ``(B,)``.
    """
    diff = tf.nn.softmax(logits, axis=-1) - tf.nn.softmax(target_logits, axis=-1)
    return tf.reduce_mean(tf.square(diff), axis=-1)
