"""Stochastic data augmentation as plain TensorFlow functions (usable in ``tf.data`` and inside a
``train_step``): random translation with reflect padding and horizontal flips, the augmentation of
Mean Teacher, HybridNet and R2-D2 (METHODS.md §1.3, §4.3)."""

from __future__ import annotations

import tensorflow as tf


def random_translate_flip(
    x: tf.Tensor,
    max_shift: int = 2,
    flip: bool = False,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """Randomly shift a batch of images by up to ``max_shift`` pixels (reflect padding) and flip.

    Args:
        x: ``(B, H, W, C)`` images.
        max_shift: largest translation in pixels, per axis (0 disables translation).
        flip: also flip left-right with probability 1/2.
        seed: optional stateless seed ``(2,)`` int tensor for reproducible draws.

    Returns:
        A tensor of the same shape.
    """
    if x.shape.rank != 4:
        return x
    b = tf.shape(x)[0]
    h, w = x.shape[1], x.shape[2]
    if seed is None:
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    seed = tf.cast(seed, tf.int64)
    if max_shift and max_shift > 0:
        m = int(max_shift)
        shifts = tf.random.stateless_uniform([b, 2], seed=seed, minval=-m, maxval=m + 1, dtype=tf.int32)
        # output(y, x) = input(y - dy, x - dx), the input extended by reflection about its edge
        # (d c b a | a b c d | d c b a, what ImageProjectiveTransform's "reflect" fill does): pad
        # each side by m with SYMMETRIC padding and gather every example's rows and columns at its
        # offset. Pad and gather compile under XLA (jit_compile=True), the projective transform
        # op does not. Shifts larger than the image are clipped to it.
        m_h, m_w = min(m, h), min(m, w)
        padded = tf.pad(x, [[0, 0], [m_h, m_h], [m_w, m_w], [0, 0]], mode="SYMMETRIC")
        dx = tf.clip_by_value(shifts[:, 0], -m_w, m_w)
        dy = tf.clip_by_value(shifts[:, 1], -m_h, m_h)
        rows = tf.range(h)[None, :] + (m_h - dy)[:, None]
        cols = tf.range(w)[None, :] + (m_w - dx)[:, None]
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        x = tf.gather(x, cols, axis=2, batch_dims=1)
    if flip:
        coin = tf.random.stateless_uniform([b, 1, 1, 1], seed=seed + 1) < 0.5
        x = tf.where(coin, tf.reverse(x, axis=[2]), x)
    return x
