"""Max unpooling by known switches (SWWAE) or at a fixed position (SAE).

METHODS.md §3.1 ("Unpooling variants"): the Caffe ``DepoolingLayer`` of the reference code
(``YutingZhang/caffe-recon-dec``) with ``pool: SWITCH`` or ``pool: FIX``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_MODES = ("switches", "fixed")


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class MaxUnpooling(keras.layers.Layer):
    """Inverse of non-overlapping max pooling: each value goes to one position of its window.

    * ``mode="switches"`` (SWWAE, "known switches", "what-where"): each value goes to the argmax
      position recorded by the matching :class:`MaxPoolingWithSwitches`; the other positions are
      zero. Implemented with ``tf.scatter_nd`` into a flat zero tensor shaped like ``reference``.
      No gradient flows into the switches (they are integers and wrapped in ``stop_gradient``,
      Caffe ``propagate_down: false``); the gradient w.r.t. ``values`` is the gradient of the
      output gathered at the switches.
    * ``mode="fixed"`` (SAE, "fixed switches"): each value goes to ``fixed_position = (row, col)``
      of its ``pool_size`` x ``pool_size`` block; the others are zero. The Caffe default offset is
      ``kernel // 2``, i.e. ``(1, 1)`` for 2x2 windows (METHODS.md §3.1, §3.7).

    If a ``reference`` tensor (the tensor that was pooled) is given, the output has its spatial
    shape: for odd sizes the row/column dropped by VALID pooling is filled with zeros.

    Args:
        pool_size: window size (int). In ``switches`` mode the switches already encode positions,
            so it only documents the geometry.
        mode: ``"switches"`` or ``"fixed"``.
        fixed_position: ``(row, col)`` inside the window for ``fixed`` mode, each in
            ``[0, pool_size)``.

    Call arguments:
        inputs: ``[values, switches, reference]`` for ``switches``; ``[values, reference]`` or
            ``values`` for ``fixed``. ``values`` is ``(B, h, w, C)``; ``switches`` the ``int64``
            output of :class:`MaxPoolingWithSwitches`; ``reference`` ``(B, H, W, C)``.

    Returns:
        ``(B, H, W, C)`` (or ``(B, h * p, w * p, C)`` in fixed mode without reference).

    Example:
        >>> x = tf.random.normal((1, 4, 4, 3))
        >>> pooled, switches = MaxPoolingWithSwitches(2)(x)
        >>> x_hat = MaxUnpooling(2, mode="switches")([pooled, switches, x])

    Reference:
        Zhang, Lee & Lee, ICML 2016 (METHODS.md §3.1); Zhao et al. 2015, "Stacked what-where
        auto-encoders".
    """

    def __init__(self, pool_size: int = 2, mode: str = "switches", fixed_position=(1, 1), **kwargs):
        super().__init__(**kwargs)
        pool_size = int(pool_size)
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        fixed_position = tuple(int(v) for v in fixed_position)
        if len(fixed_position) != 2 or not all(0 <= v < pool_size for v in fixed_position):
            raise ValueError(
                f"fixed_position must be (row, col) with entries in [0, {pool_size}), got {fixed_position!r}")
        self.pool_size = pool_size
        self.mode = mode
        self.fixed_position = fixed_position

    # === Inputs ===
    def _unpack(self, inputs):
        parts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if self.mode == "switches":
            if len(parts) != 3:
                raise ValueError("mode='switches' expects inputs [values, switches, reference]")
            return parts[0], parts[1], parts[2]
        if len(parts) not in (1, 2):
            raise ValueError("mode='fixed' expects inputs [values, reference] or values")
        return parts[0], None, (parts[1] if len(parts) == 2 else None)

    # === Forward ===
    def call(self, inputs):
        values, switches, reference = self._unpack(inputs)
        if self.mode == "switches":
            return self._unpool_switches(values, switches, reference)
        return self._unpool_fixed(values, reference)

    def _unpool_switches(self, values, switches, reference):
        out_shape = tf.shape(reference, out_type=tf.int64)
        size = tf.reduce_prod(out_shape)
        idx = tf.reshape(tf.stop_gradient(tf.cast(switches, tf.int64)), (-1, 1))
        flat = tf.scatter_nd(idx, tf.reshape(values, (-1,)), tf.reshape(size, (1,)))
        return tf.reshape(flat, out_shape)

    def _unpool_fixed(self, values, reference):
        p = self.pool_size
        r, c = self.fixed_position
        mask = tf.one_hot(r * p + c, p * p, dtype=values.dtype)
        mask = tf.reshape(mask, (1, 1, p, 1, p, 1))
        shape = tf.shape(values)
        b, h, w, ch = shape[0], shape[1], shape[2], shape[3]
        up = values[:, :, None, :, None, :] * mask  # (B, h, p, w, p, C)
        up = tf.reshape(up, tf.stack([b, h * p, w * p, ch]))
        if reference is not None:
            ref = tf.shape(reference)
            up = up[:, : ref[1], : ref[2], :]
            pad_h = tf.maximum(ref[1] - h * p, 0)
            pad_w = tf.maximum(ref[2] - w * p, 0)
            up = tf.pad(up, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        return up

    # === Shapes ===
    def compute_output_shape(self, input_shape):
        shapes = list(input_shape) if isinstance(input_shape[0], (list, tuple)) else [input_shape]
        values_shape = shapes[0]
        reference_shape = shapes[-1] if len(shapes) > 1 else None
        if reference_shape is not None:
            return (values_shape[0], reference_shape[1], reference_shape[2], values_shape[3])
        p = self.pool_size
        b, h, w, c = values_shape
        return (b, None if h is None else h * p, None if w is None else w * p, c)

    def compute_output_spec(self, inputs):
        parts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        shape = self.compute_output_shape([tuple(t.shape) for t in parts] if len(parts) > 1
                                          else tuple(parts[0].shape))
        return keras.KerasTensor(shape, dtype=parts[0].dtype)

    # === Config ===
    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, mode=self.mode, fixed_position=list(self.fixed_position))
        return config
