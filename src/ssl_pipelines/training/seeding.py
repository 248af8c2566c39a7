"""One seed for everything: Python, numpy and TensorFlow/Keras initialization and shuffling."""

from __future__ import annotations

import keras
import tensorflow as tf


def set_global_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, numpy and TensorFlow; with ``deterministic`` also turn on TF op determinism
    (identical results on CPU across runs, at some speed cost)."""
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
