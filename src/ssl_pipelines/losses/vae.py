"""ELBO terms of the deep generative SSL models M1, M2 and M1+M2 (METHODS.md §5.1).

Kingma, Rezende, Mohamed, Welling, "Semi-supervised learning with deep generative models",
NeurIPS 2014 (arXiv 1406.5298). Equation numbers refer to the arXiv version: Eq. (5) is the M1
bound, Eq. (6) the labeled bound ``L(x, y)``, Eq. (7) the unlabeled bound ``U(x)``, Eq. (8)/(9)
the objectives ``J`` / ``J^alpha``. (The numbering was recalled, METHODS.md tags it [mem].)

All functions are pure functions of tensors. Likelihoods sum over every non-batch feature axis
of ``x`` and broadcast over leading axes, so ``x`` of shape ``(B, 1, D)`` against parameters of
shape ``(B, C, D)`` gives ``(B, C)`` (one value per example and class, used to sum ``y`` out).
Bounds are returned as *losses*: ``L`` and ``U`` are negative ELBOs, in nats per example.
"""

from __future__ import annotations

import math

import tensorflow as tf

from ssl_pipelines.losses.precision import float32_inputs

_LOG_2PI = math.log(2.0 * math.pi)

#: how M2's objective weighs the labeled bound against the unlabeled one (:func:`m2_objective`,
#: :func:`m2_objective_mean`).
M2_BOUND_WEIGHTINGS = ("paper", "mean")
#: how M2 computes ``KL(q(z|x,y) || p(z))`` in ``L(x, y)`` (:func:`gaussian_kl`, :func:`gaussian_kl_sample`).
KL_ESTIMATORS = ("analytic", "sample")


@float32_inputs
def bernoulli_log_likelihood(x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """``log p(x | logits) = sum_d x_d log sigmoid(l_d) + (1 - x_d) log(1 - sigmoid(l_d))``.

    The decoder term ``log p_theta(x|z)`` (M1, Eq. 5) / ``log p_theta(x|y,z)`` (M2, Eq. 6) for
    binary (or dynamically binarized, METHODS.md §5.6) pixels. Computed stably as
    ``x * l - softplus(l)``.

    Args:
        x: ``(..., D)`` targets in [0, 1].
        logits: ``(..., D)`` Bernoulli logits (broadcast against ``x``).

    Returns:
        the sum over the last axis, shape ``broadcast(x, logits).shape[:-1]``.
    """
    return tf.reduce_sum(x * logits - tf.nn.softplus(logits), axis=-1)


@float32_inputs
def gaussian_log_likelihood(x: tf.Tensor, mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """``log N(x; mean, diag exp(log_var)) = -1/2 sum_d [log 2 pi + log_var_d + (x_d - mean_d)^2 / var_d]``.

    The Gaussian decoder for continuous data (M1 on PCA features) and M1+M2's ``p(z1 | y, z2)``
    (METHODS.md §5.1). Sums over the last axis.
    """
    return -0.5 * tf.reduce_sum(_LOG_2PI + log_var + tf.square(x - mean) * tf.exp(-log_var), axis=-1)


@float32_inputs
def gaussian_kl(mean_q: tf.Tensor, log_var_q: tf.Tensor, mean_p: tf.Tensor | float = 0.0,
                log_var_p: tf.Tensor | float = 0.0) -> tf.Tensor:
    """Closed-form ``KL(N(mean_q, var_q) || N(mean_p, var_p))`` of diagonal Gaussians, summed over the last axis.

    ``1/2 sum_d [log var_p - log var_q + (var_q + (mean_q - mean_p)^2) / var_p - 1]``. With the
    default ``p = N(0, I)`` this is ``-1/2 sum_d (1 + log var_q - mean_q^2 - var_q)``: the analytic
    ``KL(q(z|x) || p(z))`` of the M1 bound (Eq. 5) and ``E_q[log q(z|x,y) - log p(z)]`` of the
    labeled bound (Eq. 6; the code's "gaussianmarg" form, METHODS.md §5.4).
    """
    var_ratio = tf.exp(log_var_q - log_var_p)
    mahal = tf.square(mean_q - mean_p) * tf.exp(-log_var_p)
    return 0.5 * tf.reduce_sum(var_ratio + mahal - 1.0 - (log_var_q - log_var_p), axis=-1)


@float32_inputs
def gaussian_kl_sample(z: tf.Tensor, mean_q: tf.Tensor, log_var_q: tf.Tensor) -> tf.Tensor:
    """One-sample estimate of ``KL(q(z) || N(0, I))`` at ``z ~ q``: ``log q(z) - log p(z)``, summed over the last axis.

    ``1/2 sum_d [z_d^2 - log var_d - (z_d - mean_d)^2 / var_d]`` (the ``log 2 pi`` terms cancel).
    The Monte Carlo form of ``E_q[log q(z|x,y) - log p(z)]`` in the labeled bound (Eq. 6), with the
    same reparameterized ``z`` as the reconstruction term (what e.g. ``wohlert/semi-supervised-pytorch``
    uses, METHODS.md §5.4); unbiased for :func:`gaussian_kl`, with more variance.
    """
    return 0.5 * tf.reduce_sum(tf.square(z) - log_var_q - tf.square(z - mean_q) * tf.exp(-log_var_q), axis=-1)


@float32_inputs
def vae_loss(log_px: tf.Tensor, kl_z: tf.Tensor) -> tf.Tensor:
    """M1 negative ELBO ``J(x) = -(E_q[log p(x|z)] - KL(q(z|x) || p(z)))`` (Eq. 5), per example."""
    return kl_z - log_px


@float32_inputs
def labeled_bound(log_px: tf.Tensor, kl_z: tf.Tensor, log_prior_y: tf.Tensor | float) -> tf.Tensor:
    """M2 labeled bound as a loss, ``L(x, y) = -(E_q[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || p(z)))`` (Eq. 6).

    Args:
        log_px: one-sample estimate of ``E_q[log p(x|y,z)]`` (any shape, e.g. ``(B,)`` or ``(B, C)``).
        kl_z: closed-form KL of ``q(z|x,y)`` to the prior, same shape.
        log_prior_y: ``log p(y)`` (``-log C`` for the uniform prior; constant, no gradient).
    """
    return kl_z - log_px - log_prior_y


@float32_inputs
def unlabeled_bound(labeled_bounds: tf.Tensor, classifier_logits: tf.Tensor) -> tf.Tensor:
    """M2 unlabeled bound as a loss, ``U(x) = sum_y q(y|x) L(x, y) - H(q(y|x))`` (Eq. 7).

    ``y`` is summed out exactly over all classes (not sampled), and gradients reach the classifier
    ``q(y|x)`` through both the weights and the entropy (METHODS.md §5.6).

    Args:
        labeled_bounds: ``(B, C)``: ``L(x, y)`` for every class ``y``.
        classifier_logits: ``(B, C)`` logits of ``q(y|x)``.

    Returns:
        ``(B,)``.
    """
    log_q = tf.nn.log_softmax(classifier_logits, axis=-1)
    q = tf.exp(log_q)
    return tf.reduce_sum(q * (labeled_bounds + log_q), axis=-1)


@float32_inputs
def m2_objective(labeled_bound_mean: tf.Tensor, unlabeled_bound_mean: tf.Tensor, classification_mean: tf.Tensor,
                 num_labeled: int, num_unlabeled: int, alpha: float = 0.1) -> tf.Tensor:
    """``J^alpha / N`` from batch means: the paper's objective (Eq. 9) per training point.

    ``J^alpha = sum_l L + sum_u U + alpha_paper * E_l[-log q(y|x)]`` with ``alpha_paper = 0.1 N``
    (``N = N_l + N_u``). Dividing by ``N`` and estimating each sum by its batch mean gives
    ``(N_l/N) mean_l L + (N_u/N) mean_u U + alpha * mean_l CE`` with ``alpha = 0.1``, independent of
    the batch composition (METHODS.md §5.6 "keep the scales consistent"). Per labeled point the
    cross-entropy weighs ``alpha N / N_l`` times a bound term, the code's ``beta`` (§5.1).
    """
    n = float(num_labeled + num_unlabeled)
    return (num_labeled / n) * labeled_bound_mean + (num_unlabeled / n) * unlabeled_bound_mean \
        + alpha * classification_mean


@float32_inputs
def m2_objective_mean(labeled_bound_mean: tf.Tensor, unlabeled_bound_mean: tf.Tensor,
                      classification_mean: tf.Tensor, alpha: float = 0.1) -> tf.Tensor:
    """``mean_l L + mean_u U + alpha * mean_l CE``: Eq. 9 with each of its two sums replaced by its mean.

    The labeled and the unlabeled set each get unit weight, whatever their sizes (the batch-mean
    objective of PyTorch M2s such as ``wohlert/semi-supervised-pytorch``, METHODS.md §5.4). Against
    :func:`m2_objective` (``N_l/N`` and ``N_u/N``) the labeled bound weighs ``N/N_l`` times more
    (500x for MNIST with 100 labels), so ``p(x|y,z)`` is taught to use ``y`` from the start; the
    unlabeled bound's weight changes by ``N/N_u`` (~1). ``alpha`` weighs the mean cross-entropy as in
    :func:`m2_objective`, so the classification-to-unlabeled ratio is unchanged.
    """
    return labeled_bound_mean + unlabeled_bound_mean + alpha * classification_mean


@float32_inputs
def decoder_log_likelihood(x: tf.Tensor, decoder_outputs, likelihood: str) -> tf.Tensor:
    """``log p(x | decoder outputs)`` for ``likelihood`` in ``{"bernoulli", "gaussian"}`` (logits, or ``[mean, log_var]``)."""
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, decoder_outputs)
    if likelihood == "gaussian":
        mean, log_var = decoder_outputs
        return gaussian_log_likelihood(x, mean, log_var)
    raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
