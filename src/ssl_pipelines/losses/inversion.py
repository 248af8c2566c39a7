"""Loss terms of SSL via deep-network inversion (Balestriero, Roger, Glotin, Baraniuk 2017,
arXiv 1711.04313; multiscale follow-up arXiv 1802.10172). METHODS.md §2.2.

Pure functions of tensors. Per-example outputs ``(B,)`` where it makes sense; the method model
averages them over the samples selected for each term.
"""

from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf

from ssl_pipelines.losses.classification import entropy_from_logits
from ssl_pipelines.losses.precision import float32_inputs


def _flat(x: tf.Tensor) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    return tf.reshape(x, (tf.shape(x)[0], -1))


@float32_inputs
def reconstruction_error(x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
    """Per-example mean squared reconstruction error ``R(x) = ||x_hat - x||^2 / D`` (paper Eq. 8).

    The paper calls R a mean squared error; dividing by the input dimension ``D`` keeps its scale
    independent of the input size (so the same ``beta`` works on 8x8 digits and 28x28 MNIST).

    Args:
        x: ``(B, ...)`` inputs.
        x_hat: ``(B, ...)`` reconstructions, same shape.

    Returns:
        ``(B,)``.
    """
    diff = _flat(x_hat) - _flat(x)
    return tf.reduce_mean(tf.square(diff), axis=-1)


@float32_inputs
def cosine_reconstruction_error(x: tf.Tensor, x_hat: tf.Tensor, epsilon: float = 1e-8) -> tf.Tensor:
    """Per-example ``1 - cos(x_hat, x)``: the alternative distance for R the paper allows (§2.2,
    after Eq. 8). Scale-free, so the templates only have to point the right way. Returns ``(B,)``."""
    a, b = _flat(x_hat), _flat(x)
    dot = tf.reduce_sum(a * b, axis=-1)
    norms = tf.norm(a, axis=-1) * tf.norm(b, axis=-1)
    return 1.0 - dot / (norms + epsilon)


RECONSTRUCTION_DISTANCES = {"mse": reconstruction_error, "cosine": cosine_reconstruction_error}


@float32_inputs
def specialization_loss(logits: tf.Tensor) -> tf.Tensor:
    """Per-example Shannon entropy ``E(x) = -sum_c y_c log y_c`` of ``y = softmax(logits)``
    (the "specialization" loss, paper Eq. 9). Returns ``(B,)``."""
    return entropy_from_logits(logits)


@float32_inputs
def inversion_total_loss(cross_entropy: tf.Tensor, reconstruction: tf.Tensor, entropy: tf.Tensor,
                         alpha, beta) -> tf.Tensor:
    """The convex combination of paper Eq. 10:
    ``L = alpha * CE + (1 - alpha) * (beta * R + (1 - beta) * E)``.

    The symbol-level form is reconstructed from the text (METHODS.md §2.2, marked [?]).

    Args:
        cross_entropy, reconstruction, entropy: scalars (or broadcastable tensors).
        alpha: supervised weight in ``[0, 1]``; ``alpha = 1`` is plain cross-entropy, ``0`` fully
            unsupervised.
        beta: reconstruction vs. entropy weight in ``[0, 1]``.
    """
    alpha = tf.cast(alpha, cross_entropy.dtype)
    beta = tf.cast(beta, cross_entropy.dtype)
    return alpha * cross_entropy + (1.0 - alpha) * (beta * reconstruction + (1.0 - beta) * entropy)


@float32_inputs
def multiscale_reconstruction_error(targets: Sequence[tf.Tensor], reconstructions: Sequence[tf.Tensor],
                                    weights: Sequence[float] | None = None) -> tf.Tensor:
    """Per-example per-layer reconstruction terms ``sum_l beta_R^(l) ||f^-1_l - z^(l)||^2`` of the
    multiscale extension (arXiv 1802.10172, the paper's per-layer R; METHODS.md §2.2).

    Args:
        targets: layer representations ``z^(l)``, each ``(B, ...)``.
        reconstructions: the matching ``f^-1_l`` (same shapes).
        weights: ``beta_R^(l)`` per layer; default :func:`multiscale_default_weights` of the
            *summed* squared error, i.e. ``1 / (L * D^(l))`` (the guessed renormalization, [3rd][?]).

    Returns:
        ``(B,)``: the weighted sum over layers of the per-example summed squared errors.
    """
    if len(targets) != len(reconstructions):
        raise ValueError(f"{len(targets)} targets but {len(reconstructions)} reconstructions")
    if not targets:
        raise ValueError("multiscale_reconstruction_error needs at least one layer")
    if weights is None:
        weights = multiscale_default_weights([t.shape[1:] for t in targets])
    if len(weights) != len(targets):
        raise ValueError(f"{len(weights)} weights for {len(targets)} layers")
    total = 0.0
    for z, z_hat, w in zip(targets, reconstructions, weights):
        total += float(w) * tf.reduce_sum(tf.square(_flat(z_hat) - _flat(z)), axis=-1)
    return total


@float32_inputs
def multiscale_default_weights(shapes: Sequence[Sequence[int]]) -> list[float]:
    """``beta_R^(l) = 1 / (L * D^(l))`` for ``L`` layers of dimensions ``D^(l)`` (the guessed
    normalization of arXiv 1802.10172, METHODS.md §2.2 [3rd][?])."""
    n = len(shapes)
    return [1.0 / (n * math.prod(int(d) for d in s)) for s in shapes]


@float32_inputs
def normalized_entropy_weight(num_classes: int) -> float:
    """``beta_E = 1 / log C`` (the guessed entropy normalization of arXiv 1802.10172, [3rd][?]):
    scales E to ``[0, 1]``."""
    return 1.0 / math.log(int(num_classes))
