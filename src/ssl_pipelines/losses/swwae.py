"""Reconstruction losses of decoder-augmented classifiers (SAE / SWWAE), Zhang, Lee & Lee 2016.

METHODS.md §3.2: ``L = CE(fc8, y) + λ_img·EL(x̂, x) + Σ_{l=1..4} λ_l·EL(ĥ_l, pool_l(x))`` with
Caffe's EuclideanLoss ``EL(a, b) = 1/(2B) Σ ||a − b||²``. The paper writes this objective as its
Eq. (1)-(2) (classification loss plus weighted reconstruction losses of the "-first"/"-all"/
"-layerwise" decoders) **[mem: equation numbers not re-checked against the paper's text]**; the
weights and the reduction were read in the reference deploy prototxts [code].

METHODS.md §3.7: with per-element means instead of Caffe's sums the weights must be rescaled:
``λ_sum · EL_sum = λ_sum · D/2 · mean_sq`` for ``D`` elements per example, see
:func:`caffe_weight_to_mean_weight`.
"""

from __future__ import annotations

import tensorflow as tf

from ssl_pipelines.losses.precision import float32_inputs


def _flat_sq_err(reconstruction, target):
    diff = tf.cast(reconstruction, tf.float32) - tf.cast(target, tf.float32)
    b = tf.shape(diff)[0]
    return tf.reshape(tf.square(diff), tf.stack([b, -1]))


@float32_inputs
def euclidean_loss_per_example(reconstruction, target):
    """Caffe EuclideanLoss per example: ``0.5 · Σ_elements (a − b)²`` (METHODS.md §3.2, paper Eq. (2)).

    Averaging over the batch gives Caffe's ``1/(2B) Σ ||a − b||²`` exactly.

    Returns:
        ``(B,)`` tensor.
    """
    return 0.5 * tf.reduce_sum(_flat_sq_err(reconstruction, target), axis=1)


@float32_inputs
def mean_squared_error_per_example(reconstruction, target):
    """Per-element mean squared error per example: ``(1/D) Σ_elements (a − b)²`` (the Keras ``mse``
    scale; METHODS.md §3.7, scale-converted form of paper Eq. (2)).

    Returns:
        ``(B,)`` tensor.
    """
    return tf.reduce_mean(_flat_sq_err(reconstruction, target), axis=1)


@float32_inputs
def reconstruction_loss(reconstruction, target, reduction: str = "mean", stop_gradient_target: bool = False):
    """Batch-mean reconstruction loss of one decoder output (paper Eq. (2), METHODS.md §3.2).

    Args:
        reconstruction: decoder output ``ĥ`` (``(B, ...)``).
        target: encoder activation (or the image) it reconstructs.
        reduction: ``"sum"`` = Caffe EuclideanLoss (:func:`euclidean_loss_per_example`), or
            ``"mean"`` = per-element mean (:func:`mean_squared_error_per_example`).
        stop_gradient_target: detach the target. The reference Caffe nets do **not** (the encoder
            also gets gradient from the intermediate targets, METHODS.md §3.2), so the default is
            ``False``.

    Returns:
        scalar.
    """
    if stop_gradient_target:
        target = tf.stop_gradient(target)
    if reduction == "sum":
        return tf.reduce_mean(euclidean_loss_per_example(reconstruction, target))
    if reduction == "mean":
        return tf.reduce_mean(mean_squared_error_per_example(reconstruction, target))
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


@float32_inputs
def weighted_reconstruction_total(losses: dict, weights: dict):
    """``Σ_k weights[k] · losses[k]`` over the terms present in both (paper Eq. (1), the
    reconstruction part of ``L``; METHODS.md §3.2). Terms with weight 0 are skipped.

    Returns:
        scalar (0.0 when no term is active).
    """
    total = tf.constant(0.0, tf.float32)
    for name, value in losses.items():
        w = float(weights.get(name, 0.0))
        if w:
            total = total + w * tf.cast(value, tf.float32)
    return total


@float32_inputs
def caffe_weight_to_mean_weight(weight: float, elements_per_example: int) -> float:
    """Weight that makes a per-element-mean term equal to a Caffe summed EuclideanLoss term
    (METHODS.md §3.7): ``λ · 0.5 · Σ = λ · D/2 · mean``, so ``λ_mean = λ_sum · D / 2``.

    Example: the image term ``1e-4`` on a 224x224x3 input in 0-255/255 units becomes
    ``1e-4 · 150528 / 2 ≈ 7.5``.
    """
    return float(weight) * int(elements_per_example) / 2.0
