"""Max pooling that also returns its switches (argmax positions), for SWWAE / HybridNet decoders.

METHODS.md §0 ("Notes for a Keras port") and §3.1 ("Unpooling variants"): the encoder max-pool
records *where* each maximum came from so a decoder can put values back there ("what-where",
Zhao et al. 2015; Zhang, Lee & Lee 2016, Caffe ``PoolingLayer`` with a switch top).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _in_xla_context() -> bool:
    """Whether the op being built will be compiled by XLA (a ``tf.function(jit_compile=True)``,
    which is how Keras compiles a train step with ``jit_compile=True``). Reads TensorFlow's
    control-flow context; if that internal API ever moves, the XLA-compatible path is taken
    everywhere (correct, a little slower)."""
    try:
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except Exception:  # pragma: no cover - a TensorFlow without that helper
        return True


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class MaxPoolingWithSwitches(keras.layers.Layer):
    """Non-overlapping ``pool_size`` x ``pool_size`` max pooling (stride = pool size, VALID).

    The switches are those of ``tf.nn.max_pool_with_argmax(..., include_batch_in_index=True)``
    (``tests/test_swwae_layers.py`` compares them), computed with ops XLA compiles: for output
    element ``(b, i, j, c)`` the switch is the flat index
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
        if not _in_xla_context():
            pooled, switches = tf.nn.max_pool_with_argmax(
                x, ksize=p, strides=p, padding="VALID", include_batch_in_index=True, output_dtype=tf.int64)
            return pooled, tf.stop_gradient(switches)
        return self._call_xla(x)

    def _call_xla(self, x):
        """The same pooling and switches from reshape / argmax / gather: the MaxPoolWithArgmax op
        has no XLA kernel, so this is what a model compiled with ``jit_compile=True`` (Keras'
        ``"auto"`` on a GPU) runs. Outside XLA the kernel is used: ~1.3x faster for a conv + pool
        forward and backward on this CPU (``tests/test_swwae_layers.py`` checks both agree, ties
        and gradients included)."""
        p = self.pool_size
        shape = tf.shape(x, out_type=tf.int64)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        h, w = height // p, width // p
        windows = tf.reshape(x[:, : h * p, : w * p, :], tf.stack([batch, h, p, w, p, channels]))
        windows = tf.transpose(windows, [0, 1, 3, 5, 2, 4])  # (B, h, w, C, p, p)
        windows = tf.reshape(windows, tf.stack([batch, h, w, channels, p * p]))
        # the first maximum in row-major window order, as the MaxPoolWithArgmax kernel picks it
        arg = tf.argmax(windows, axis=-1, output_type=tf.int64)
        # gathered (not reduce_max): the gradient goes to that one position, as max pooling's does
        pooled = tf.squeeze(tf.gather(windows, arg[..., None], batch_dims=4), -1)
        b = tf.range(batch)[:, None, None, None]
        i = tf.range(h)[None, :, None, None]
        j = tf.range(w)[None, None, :, None]
        c = tf.range(channels)[None, None, None, :]
        row, col = i * p + arg // p, j * p + arg % p
        switches = ((b * height + row) * width + col) * channels + c
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
