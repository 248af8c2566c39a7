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
from ssl_pipelines.losses.vae import (  # noqa: E402
    bernoulli_log_likelihood,
    decoder_log_likelihood,
    gaussian_kl,
    gaussian_log_likelihood,
    labeled_bound,
    m2_objective,
    unlabeled_bound,
    vae_loss,
)

__all__ += ["bernoulli_log_likelihood", "decoder_log_likelihood", "gaussian_kl", "gaussian_log_likelihood", "labeled_bound",
            "m2_objective", "unlabeled_bound", "vae_loss"]

from ssl_pipelines.losses.r2d2 import (  # noqa: E402
    d2_loss,
    pseudo_label_gradient,
    scaled_label_lr,
    theorem1_pseudo_label,
)

__all__ += ["d2_loss", "pseudo_label_gradient", "scaled_label_lr", "theorem1_pseudo_label"]

from ssl_pipelines.losses.hybridnet import (  # noqa: E402
    balanced_reconstruction_mse,
    branch_errors,
    cosine_rampdown,
    intermediate_reconstruction_mse,
    reconstruction_mse,
    sigmoid_rampup,
)

__all__ += [
    "balanced_reconstruction_mse", "branch_errors", "cosine_rampdown", "intermediate_reconstruction_mse",
    "reconstruction_mse", "sigmoid_rampup",
]

from ssl_pipelines.losses.inversion import (  # noqa: E402
    cosine_reconstruction_error,
    inversion_total_loss,
    multiscale_default_weights,
    multiscale_reconstruction_error,
    normalized_entropy_weight,
    reconstruction_error,
    specialization_loss,
)

__all__ += [
    "cosine_reconstruction_error", "inversion_total_loss", "multiscale_default_weights",
    "multiscale_reconstruction_error", "normalized_entropy_weight", "reconstruction_error", "specialization_loss",
]
from ssl_pipelines.losses.swwae import (  # noqa: E402
    caffe_weight_to_mean_weight,
    euclidean_loss_per_example,
    mean_squared_error_per_example,
    reconstruction_loss,
    weighted_reconstruction_total,
)

__all__ += ["caffe_weight_to_mean_weight", "euclidean_loss_per_example", "mean_squared_error_per_example",
            "reconstruction_loss", "weighted_reconstruction_total"]
