"""Nodes of the ``inversion`` pipeline: parameters in, a trained :class:`InversionSSL` and its
reconstructions out (the catalog logs them to MLflow)."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.losses.inversion import cosine_reconstruction_error, reconstruction_error
from ssl_pipelines.methods import InversionSSL
from ssl_pipelines.pipelines.common_nodes import check_keys
from ssl_pipelines.pipelines.training_nodes import build_backbone_from_params, prepare_training
from ssl_pipelines.training import check_positive_int

logger = logging.getLogger(__name__)

#: ``model:`` keys besides ``backbone``/``backbone_kwargs``: the InversionSSL arguments.
METHOD_KEYS = ("alpha", "beta", "cotangent", "stop_gradient_cotangent", "unsupervised_on", "reconstruction_distance",
               "reconstruction_layers", "reconstruction_layer_weights", "alpha_start", "beta_start", "schedule_steps")


def build_inversion_model(split: SSLSplit, model_params: dict) -> InversionSSL:
    """``model: {backbone, backbone_kwargs, alpha, beta, cotangent, ...}`` -> an uncompiled model.

    Raises:
        ConfigError: unknown keys or bad values (before any training).
    """
    params = check_keys("model", model_params, {"backbone", "backbone_kwargs", *METHOD_KEYS})
    backbone = build_backbone_from_params({k: params[k] for k in ("backbone", "backbone_kwargs") if k in params},
                                          split)
    method_kwargs = {k: params[k] for k in METHOD_KEYS if params.get(k) is not None}
    return InversionSSL(backbone, name="inversion", **method_kwargs)


def train_inversion(split: SSLSplit, model_params: dict, train_params: dict, seed: int):
    """Train ``InversionSSL`` on labeled + unlabeled batches with the loss of paper Eq. 10.

    Returns:
        the trained model and its per-epoch history (``loss``, ``cross_entropy``,
        ``reconstruction``, ``entropy``, ``accuracy``, ``val_*``).
    """
    train = prepare_training(train_params, seed, defaults={"batch_labeled": 32, "batch_unlabeled": 32})
    model = build_inversion_model(split, model_params)
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    b_l = min(int(train.batch_labeled), len(split.x_labeled))
    b_u = min(int(train.batch_unlabeled), len(split.x_unlabeled))
    stream = ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=b_l, batch_unlabeled=b_u,
                        seed=train.seed, augment=train.augment)
    steps = train.steps_per_epoch or steps_per_epoch(len(split.x_unlabeled), b_u)
    logger.info("inversion: alpha=%s beta=%s cotangent=%s unsupervised_on=%s, backbone %s (%s parameters)",
                model.alpha, model.beta, model.cotangent, model.unsupervised_on, model.backbone.name,
                f"{model.backbone.count_params():,}")
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="inversion")
    return model, history


def plot_reconstructions(model: InversionSSL, split: SSLSplit, plot_params: dict | None = None) -> tuple[Figure, dict]:
    """A grid of test inputs beside their reconstructions ``x_hat = A[x]^T c`` (and the
    reconstruction errors over ``num_eval`` test inputs, logged as ``reconstruction.test_mse`` /
    ``reconstruction.test_cosine``)."""
    params = check_keys("plot", plot_params, {"num_examples", "num_eval", "batch_size"})
    n = check_positive_int("plot.num_examples", params.get("num_examples", 10))
    n_eval = check_positive_int("plot.num_eval", params.get("num_eval", 1000))
    batch = check_positive_int("plot.batch_size", params.get("batch_size", 256))
    x = np.asarray(split.x_test[:n_eval], np.float32)
    mse, cos, recs = [], [], []
    for i in range(0, len(x), batch):
        rec = model.reconstruct(x[i:i + batch])
        mse.append(reconstruction_error(x[i:i + batch], rec).numpy())
        cos.append(cosine_reconstruction_error(x[i:i + batch], rec).numpy())
        if not recs:
            recs.append(rec.numpy())
    metrics = {"test_mse": {"value": float(np.concatenate(mse).mean()), "step": 0},
               "test_cosine": {"value": float(np.concatenate(cos).mean()), "step": 0}}
    x_hat = recs[0][:n]
    fig = plots.image_grid_figure({"input": x[:n], "reconstruction": x_hat},
                                  title=f"x_hat = A[x]^T c, cotangent={model.cotangent}", max_columns=n)
    return fig, metrics
