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
from ssl_pipelines.losses.hybridnet import (
    balanced_reconstruction_mse,
    branch_errors,
    cosine_rampdown,
    intermediate_reconstruction_mse,
    reconstruction_mse,
    sigmoid_rampup,
)
from ssl_pipelines.losses.inversion import (
    cosine_reconstruction_error,
    inversion_total_loss,
    multiscale_default_weights,
    multiscale_reconstruction_error,
    normalized_entropy_weight,
    reconstruction_error,
    specialization_loss,
)
from ssl_pipelines.losses.r2d2 import (
    d2_loss,
    pseudo_label_gradient,
    scaled_label_lr,
    theorem1_pseudo_label,
)
from ssl_pipelines.losses.swwae import (
    caffe_weight_to_mean_weight,
    euclidean_loss_per_example,
    mean_squared_error_per_example,
    reconstruction_loss,
    weighted_reconstruction_total,
)
from ssl_pipelines.losses.vae import (
    bernoulli_log_likelihood,
    decoder_log_likelihood,
    gaussian_kl,
    gaussian_kl_sample,
    gaussian_log_likelihood,
    labeled_bound,
    m2_objective,
    m2_objective_mean,
    unlabeled_bound,
    vae_loss,
)

__all__ = [
    "balanced_reconstruction_mse",
    "bernoulli_log_likelihood",
    "branch_errors",
    "caffe_weight_to_mean_weight",
    "categorical_kl_from_logits",
    "cosine_rampdown",
    "cosine_reconstruction_error",
    "cross_entropy_from_logits",
    "d2_loss",
    "decoder_log_likelihood",
    "entropy_from_logits",
    "euclidean_loss_per_example",
    "gaussian_kl",
    "gaussian_kl_sample",
    "gaussian_log_likelihood",
    "intermediate_reconstruction_mse",
    "inversion_total_loss",
    "labeled_bound",
    "m2_objective",
    "m2_objective_mean",
    "mean_squared_error_per_example",
    "multiscale_default_weights",
    "multiscale_reconstruction_error",
    "normalized_entropy_weight",
    "pseudo_label_gradient",
    "reconstruction_error",
    "reconstruction_loss",
    "reconstruction_mse",
    "scaled_label_lr",
    "sigmoid_rampup",
    "softmax_mse",
    "specialization_loss",
    "theorem1_pseudo_label",
    "unlabeled_bound",
    "vae_loss",
    "weighted_reconstruction_total",
]
