"""The learnable pseudo-label table of R2-D2's Deep Decipher (METHODS.md §4.1, §4.7).

A non-trainable ``(N, C)`` variable of pseudo-label **logits** over the rows of
``[x_labeled; x_unlabeled]`` (the row order of :func:`ssl_pipelines.data.ssl_stream`'s
``index_labeled`` / ``index_unlabeled``). Rows ``0 .. num_labeled-1`` hold the fixed
``labeled_logit_scale * onehot(y)`` targets; the unlabeled rows are written by reprediction and
moved by their own plain gradient step (no momentum, no weight decay). Being a layer weight, the
table is saved in the ``.keras`` file of any model that owns the layer, so training can resume.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class PseudoLabelTable(keras.layers.Layer):
    """``(num_examples, num_classes)`` pseudo-label logits with fixed labeled rows.

    Args:
        num_examples: ``N = n_labeled + n_unlabeled`` rows.
        num_classes: ``C``.
        num_labeled: rows ``[0, num_labeled)`` are labeled and never updated.
        labeled_logit_scale: labeled rows are ``scale * onehot(y)`` (reference code: 10, so
            ``p_tilde = 0.99959`` on the true class for C = 10).

    Call arguments:
        indices: ``(B,)`` int rows. Returns the ``(B, C)`` logits of those rows (a gather).

    Example:
        >>> table = PseudoLabelTable(5, 3, num_labeled=2)
        >>> table.set_labeled(np.array([0, 2]))
        >>> table.repredict(np.zeros((3, 3), np.float32))
        >>> table.apply_gradient(np.array([1, 3]), np.ones((2, 3), np.float32), learning_rate=0.5)

    Reference:
        Wang & Wu, "Repetitive Reprediction Deep Decipher for Semi-Supervised Learning", AAAI
        2020 (the Deep Decipher pseudo-label ``y_tilde``); reference code ``src/model/DeepDecipher.py``.
    """

    def __init__(self, num_examples: int, num_classes: int, num_labeled: int = 0,
                 labeled_logit_scale: float = 10.0, **kwargs):
        # the table is read and updated in float32 under a mixed-precision policy too: its rows
        # move by steps of ~1e-3 of logits of ~10 (bfloat16 keeps 3 significant digits)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(num_examples) < 1 or int(num_classes) < 2 or not 0 <= int(num_labeled) <= int(num_examples):
            raise ValueError(f"need num_examples >= 1, num_classes >= 2 and 0 <= num_labeled <= num_examples, got "
                             f"{num_examples!r}, {num_classes!r}, {num_labeled!r}")
        self.num_examples = int(num_examples)
        self.num_classes = int(num_classes)
        self.num_labeled = int(num_labeled)
        self.labeled_logit_scale = float(labeled_logit_scale)
        self.table = self.add_weight(shape=(self.num_examples, self.num_classes), initializer="zeros",
                                     trainable=False, name="table")
        self.built = True

    # === Reading ===
    def call(self, indices):
        return tf.gather(self.table, tf.cast(indices, tf.int32))

    def probabilities(self) -> np.ndarray:
        """``softmax`` of every row, as numpy."""
        return tf.nn.softmax(tf.convert_to_tensor(self.table), axis=-1).numpy()

    # === Writing ===
    def set_labeled(self, y_labeled) -> None:
        """Write ``scale * onehot(y)`` into the labeled rows (once, before stage 2)."""
        y = np.asarray(y_labeled).astype(np.int64).reshape(-1)
        if len(y) != self.num_labeled:
            raise ValueError(f"expected {self.num_labeled} labels, got {len(y)}")
        if len(y):
            table = np.array(self.table.numpy())
            table[: self.num_labeled] = self.labeled_logit_scale * np.eye(self.num_classes, dtype=np.float32)[y]
            self.table.assign(table)

    def repredict(self, logits) -> None:
        """Overwrite exactly the unlabeled rows with ``logits`` (``(N - num_labeled, C)``)."""
        logits = np.asarray(logits, np.float32)
        n_u = self.num_examples - self.num_labeled
        if logits.shape != (n_u, self.num_classes):
            raise ValueError(f"reprediction needs logits of shape {(n_u, self.num_classes)}, got {logits.shape}")
        table = np.array(self.table.numpy())
        table[self.num_labeled:] = logits
        self.table.assign(table)

    def apply_gradient(self, indices, gradient, learning_rate) -> None:
        """Plain SGD ``y_tilde[i] -= learning_rate * gradient`` on the unlabeled ``indices`` only.

        Labeled rows in ``indices`` are skipped (their gradient is dropped), duplicates add up.
        """
        indices = tf.cast(tf.reshape(indices, [-1]), tf.int32)
        gradient = tf.convert_to_tensor(gradient, self.table.dtype)
        keep = indices >= self.num_labeled
        rows = tf.boolean_mask(indices, keep)
        step = tf.cast(learning_rate, self.table.dtype) * tf.boolean_mask(gradient, keep)
        self.table.assign(tf.tensor_scatter_nd_sub(tf.convert_to_tensor(self.table), rows[:, None], step))

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_examples=self.num_examples, num_classes=self.num_classes,
                      num_labeled=self.num_labeled, labeled_logit_scale=self.labeled_logit_scale)
        return config
