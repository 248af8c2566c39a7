"""R2-D2 loss family (Wang & Wu, AAAI 2020, arXiv 1908.04345; METHODS.md §4.2).

Only what :mod:`ssl_pipelines.losses.classification` lacks: the combined D2 objective, the
closed-form gradient with respect to the pseudo-label logits, Theorem 1's pseudo-label at a converged network and the
batch-size rescaling of the pseudo-label step size. The two building blocks,
``KL(p_hat || p_tilde)`` (``categorical_kl_from_logits``) and ``H(p_hat)``
(``entropy_from_logits``), are reused from there.

Equation references: the project's source documents (METHODS.md §4.2, taken from the poster and
the reference code) give the formulas ``L_c``, ``L_e``, ``L = alpha L_c + beta L_e``, the
pseudo-label gradient and Theorems 1/2 but not the paper's equation numbers, so docstrings cite
the formulas by name and the METHODS.md section instead of guessing numbers.
"""

from __future__ import annotations

import math

import tensorflow as tf

from ssl_pipelines.losses.classification import categorical_kl_from_logits, entropy_from_logits
from ssl_pipelines.losses.precision import float32_inputs


@float32_inputs
def d2_loss(logits: tf.Tensor, pseudo_logits: tf.Tensor, alpha: float = 0.1, beta: float = 0.03) -> tf.Tensor:
    """Per-example D2 loss ``alpha * KL(p_hat || p_tilde) + beta * H(p_hat)``.

    ``p_hat = softmax(logits)`` is the network's prediction and ``p_tilde = softmax(pseudo_logits)``
    the learnable pseudo-label (METHODS.md §4.2; the paper's ``L_c``, ``L_e`` and
    ``L = alpha L_c + beta L_e``). Note the KL direction: prediction first.

    Args:
        logits: ``(B, C)`` network logits.
        pseudo_logits: ``(B, C)`` pseudo-label logits ``y_tilde`` of the same examples.
        alpha: weight of the compatibility term ``L_c`` (code default 0.1).
        beta: weight of the entropy term ``L_e`` (code default 0.03; the poster's 0.3 is
            read as ``beta / alpha``).

    Returns:
        ``(B,)``; the batch loss is its mean.
    """
    return alpha * categorical_kl_from_logits(logits, pseudo_logits) + beta * entropy_from_logits(logits)


@float32_inputs
def pseudo_label_gradient(logits: tf.Tensor, pseudo_logits: tf.Tensor, alpha: float = 0.1,
                          batch_size: int | None = None) -> tf.Tensor:
    """Closed-form ``d mean_batch(L) / d y_tilde_i = alpha * (p_tilde_i - p_hat_i) / B``.

    The entropy term does not depend on ``y_tilde``; this is the update rule the reference code
    writes in its custom backward (``DeepDecipher.py``; METHODS.md §4.2).
    Every row sums to zero, so ``sum_k y_tilde_ik`` is invariant under the update (the poster's
    "equality constraint").

    Args:
        logits: ``(B, C)`` network logits (``p_hat``).
        pseudo_logits: ``(B, C)`` pseudo-label logits (``p_tilde``).
        alpha: weight of ``L_c``.
        batch_size: ``B`` of the batch mean (default: the leading dimension).

    Returns:
        ``(B, C)``.
    """
    b = tf.cast(tf.shape(logits)[0] if batch_size is None else batch_size, logits.dtype)
    return alpha * (tf.nn.softmax(pseudo_logits, axis=-1) - tf.nn.softmax(logits, axis=-1)) / b


@float32_inputs
def theorem1_pseudo_label(p_hat: tf.Tensor, alpha: float = 0.1, beta: float = 0.03) -> tf.Tensor:
    """Theorem 1's "exponential link": the pseudo-label a converged network implies,
    ``p_tilde = p_hat^(1 - beta/alpha) / sum_k p_hat_k^(1 - beta/alpha)``.

    Setting the gradient of ``alpha KL(p_hat || p_tilde) + beta H(p_hat)`` with respect to the
    network logits to zero gives ``log p_tilde_j = (1 - beta/alpha) log p_hat_j + const``
    (METHODS.md §4.2 "Theory"). The poster writes the constant as ``exp(-beta/alpha)``
    (``p_tilde_n = exp(-beta/alpha) p_hat_n^(1 - beta/alpha)``); that only normalizes when
    ``sum_k p_hat_k^(1 - beta/alpha) = exp(beta/alpha)``, so this function uses the normalizer
    instead (a documented deviation). Either way Theorem 2 follows for the largest entry:
    ``p_tilde_n <= p_hat_n``, the pseudo-labels are flatter than the predictions, which is why
    R2-D2 repredicts.

    Args:
        p_hat: ``(..., C)`` predicted probabilities.

    Returns:
        ``(..., C)`` pseudo-label probabilities.
    """
    p_hat = tf.convert_to_tensor(p_hat)
    powered = tf.pow(p_hat, tf.cast(1.0 - beta / alpha, p_hat.dtype))
    return powered / tf.reduce_sum(powered, axis=-1, keepdims=True)


@float32_inputs
def scaled_label_lr(label_lr: float, batch_size: int, reference_batch_size: int = 512) -> float:
    """Rescale the pseudo-label step size ``lambda`` to a batch size (METHODS.md §4.2/§4.7 pitfall).

    The reference ``lambda = 4000`` was tuned for a whole batch of ``B_ref = 512`` (4 GPUs), so
    the per-example step is ``lambda * alpha / B_ref ~ 0.78``. Keeping that per-example step at
    batch size ``B`` needs ``lambda * B / B_ref``.
    """
    if not (isinstance(label_lr, (int, float)) and math.isfinite(label_lr) and label_lr > 0):
        raise ValueError(f"label_lr must be a positive number, got {label_lr!r}")
    if int(batch_size) < 1 or int(reference_batch_size) < 1:
        raise ValueError(f"batch sizes must be positive, got {batch_size!r} and {reference_batch_size!r}")
    return float(label_lr) * int(batch_size) / int(reference_batch_size)
