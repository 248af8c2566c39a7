"""Max pooling that also returns its switches (argmax positions), for SWWAE / HybridNet decoders.

METHODS.md §0 ("Notes for a Keras port") and §3.1 ("Unpooling variants"): the encoder max-pool
records *where* each maximum came from so a decoder can put values back there ("what-where",
Zhao et al. 2015; Zhang, Lee & Lee 2016, Caffe ``PoolingLayer`` with a switch top).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class MaxPoolingWithSwitches(keras.layers.Layer):
    """Non-overlapping ``pool_size`` x ``pool_size`` max pooling (stride = pool size, VALID).

    The switches come from ``tf.nn.max_pool_with_argmax(..., include_batch_in_index=True)``
    (the CPU kernel exists in tensorflow-cpu 2.21; checked in ``tests/test_swwae_layers.py``):
    for output element ``(b, i, j, c)`` the switch is the flat index
    ``((b * H + y) * W + x) * C + c`` of the maximum in the *input* tensor, as ``int64``. They are
    integers, so no gradient can flow through them; they are also wrapped in ``stop_gradient``.
    Odd spatial sizes are floored (the last row/column is dropped, as in VALID pooling).

    Args:
        pool_size: window size and stride (int, square windows).

    Call arguments:
        x: ``(B, H, W, C)`` float tensor.

    Returns:
        ``(pooled, switches)``: ``(B, H // p, W // p, C)`` pooled values and ``int64`` switches
        of the same shape.

    Example:
        >>> pool = MaxPoolingWithSwitches(2)
        >>> pooled, switches = pool(tf.random.normal((1, 4, 4, 3)))

    Reference:
        Zhang, Lee & Lee, "Augmenting supervised neural networks with unsupervised objectives for
        large-scale image classification", ICML 2016 (METHODS.md §3.1); Zhao et al. 2015, SWWAE.
    """

    def __init__(self, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        pool_size = int(pool_size)
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size!r}")
        self.pool_size = pool_size

    def call(self, x):
        p = self.pool_size
        pooled, switches = tf.nn.max_pool_with_argmax(
            x, ksize=p, strides=p, padding="VALID", include_batch_in_index=True,
            output_dtype=tf.int64)
        return pooled, tf.stop_gradient(switches)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        p = self.pool_size
        out = (b, None if h is None else h // p, None if w is None else w // p, c)
        return out, out

    def compute_output_spec(self, x):
        shape = self.compute_output_shape(x.shape)[0]
        return (keras.KerasTensor(shape, dtype=x.dtype), keras.KerasTensor(shape, dtype="int64"))

    def get_config(self):
        config = super().get_config()
        config["pool_size"] = self.pool_size
        return config
