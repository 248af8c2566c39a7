"""Loss terms are computed in float32 whatever precision the network runs in.

Under a mixed policy (``mixed_bfloat16`` / ``mixed_float16``) the network's outputs (logits, means,
log-variances, reconstructions) come out in a half type with 8 (bfloat16) or 11 (float16) bits of
mantissa. Sums over 784+ pixels, log-sum-exps, KL and entropy terms lose most of their digits
there, so every loss function of this package casts its half-precision tensor arguments to float32
first (the Keras mixed-precision guide's advice for a model's outputs). float32 and float64
arguments are left as they are, so in a float32 run nothing changes.
"""

from __future__ import annotations

import functools

import tensorflow as tf

HALF_DTYPES = (tf.bfloat16, tf.float16)


def _cast_leaf(value):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return value
    try:
        dtype = tf.as_dtype(dtype)
    except TypeError:
        return value
    return tf.cast(value, tf.float32) if dtype in HALF_DTYPES else value


def to_float32(structure):
    """``structure`` (a tensor, or a list / tuple / dict of them) with every bfloat16 / float16
    leaf cast to float32; other leaves (float32, integers, Python numbers) unchanged."""
    return tf.nest.map_structure(_cast_leaf, structure)


def float32_inputs(fn):
    """Decorate a loss function so that its half-precision tensor arguments arrive as float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*to_float32(args), **to_float32(kwargs))

    return wrapper
