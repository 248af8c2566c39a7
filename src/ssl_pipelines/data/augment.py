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
        shifts = tf.random.stateless_uniform(
            [b, 2], seed=seed, minval=-int(max_shift), maxval=int(max_shift) + 1, dtype=tf.int32)
        shifts = tf.cast(shifts, tf.float32)
        ones, zeros = tf.ones([b, 1]), tf.zeros([b, 1])
        # Projective transform mapping output (x, y) to input (x - dx, y - dy): an integer shift.
        transforms = tf.concat(
            [ones, zeros, -shifts[:, :1], zeros, ones, -shifts[:, 1:], zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.constant([h, w], tf.int32),
            fill_value=tf.constant(0.0, x.dtype), interpolation="NEAREST", fill_mode="REFLECT")
    if flip:
        coin = tf.random.stateless_uniform([b, 1, 1, 1], seed=seed + 1) < 0.5
        x = tf.where(coin, tf.reverse(x, axis=[2]), x)
    return x
