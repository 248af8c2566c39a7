"""Loss terms as small pure functions of tensors, one module per family, each citing its paper
equation. Methods compose them in ``train_step``; nothing here holds state.

Modules: ``classification`` (cross-entropy, entropy, KL between categorical distributions, shared
by every method); method-specific families live beside it (``vae``, ``inversion``, ``hybridnet``,
``r2d2``, ``swwae``) and are re-exported here.
"""

from ssl_pipelines.losses.classification import (
    categorical_kl_from_logits,
    cross_entropy_from_logits,
    entropy_from_logits,
    softmax_mse,
)

__all__ = [
    "categorical_kl_from_logits",
    "cross_entropy_from_logits",
    "entropy_from_logits",
    "softmax_mse",
]
