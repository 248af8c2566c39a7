"""Gaussian reparameterization sampling (Kingma & Welling 2014; Kingma et al. 2014 §3, METHODS.md §5.1)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class GaussianSampling(keras.layers.Layer):
    """Draw ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)`` (the reparameterization trick).

    Gradients flow to ``mean`` and ``log_var``; one sample per call, as in the paper's one-sample
    Monte Carlo estimate of the bounds (METHODS.md §5.1).

    Args:
        seed: seed of the layer's ``keras.random.SeedGenerator`` (None: unseeded).
        deterministic_inference: if True, return ``mean`` when called with ``training=False``
            (posterior means at test time, as M1+M2 uses them). Default False: always sample.

    Call arguments:
        inputs: ``[mean, log_var]``, two tensors of the same shape.
        training: only used with ``deterministic_inference``.

    Example:
        >>> import numpy as np
        >>> z = GaussianSampling(seed=1)([np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32")])
        >>> tuple(z.shape)
        (2, 3)

    Reference:
        Kingma, Rezende, Mohamed, Welling 2014 (arXiv 1406.5298), §3 and Appendix; Kingma &
        Welling 2014 (arXiv 1312.6114) Eq. (10).
    """

    def __init__(self, seed: int | None = None, deterministic_inference: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.deterministic_inference = bool(deterministic_inference)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        if self.deterministic_inference and not training:
            return mean
        eps = keras.random.normal(keras.ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "deterministic_inference": self.deterministic_inference}
