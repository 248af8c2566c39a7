"""The random regularizers of the backbones (dropout, Gaussian input noise), computed in float32
whatever the dtype policy.

Under ``mixed_bfloat16`` Keras' Dropout draws its mask from a bfloat16 uniform and multiplies in
bfloat16, which lost accuracy at equal steps (benchmarks/HISTORY.md, "bfloat16 dropout": the
supervised MLP with dropout 0.5); computed in float32 (the neighbouring layers cast to and from
their own precision) it matches float32 training. In a float32 run these are the plain Keras layers.
"""

from __future__ import annotations

import keras


def dropout(rate: float, name: str | None = None) -> keras.layers.Dropout:
    """``keras.layers.Dropout(rate)`` computing in float32."""
    return keras.layers.Dropout(float(rate), name=name, dtype="float32")


def gaussian_noise(stddev: float, name: str | None = None) -> keras.layers.GaussianNoise:
    """``keras.layers.GaussianNoise(stddev)`` computing in float32."""
    return keras.layers.GaussianNoise(float(stddev), name=name, dtype="float32")
