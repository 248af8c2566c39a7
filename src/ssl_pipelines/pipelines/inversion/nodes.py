"""Nodes of the ``inversion`` pipeline: parameters in, a trained :class:`InversionSSL` and its
reconstructions out (the catalog logs them to MLflow)."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import split_access
from ssl_pipelines.losses.inversion import cosine_reconstruction_error, reconstruction_error
from ssl_pipelines.methods import InversionSSL
from ssl_pipelines.params import parse_evaluation, parse_train
from ssl_pipelines.params.inversion import parse_model, parse_plot
from ssl_pipelines.pipelines.common_training import build_backbone_for, start_stage, train_stage

logger = logging.getLogger(__name__)


def build_inversion_model(split, model_params: dict) -> InversionSSL:
    """``model: {backbone, backbone_kwargs, alpha, beta, cotangent, ...}`` -> an uncompiled model.

    Raises:
        ConfigError: unknown keys or bad values (before any training).
    """
    backbone, method_kwargs = parse_model(model_params)
    return InversionSSL(build_backbone_for(split, backbone), name="inversion", **method_kwargs)


def train_inversion(split, model_params: dict, train_params: dict, seed: int, eval_params: dict | None = None):
    """Train ``InversionSSL`` on labeled + unlabeled batches with the loss of paper Eq. 10
    (``eval_params``: the ``evaluation:`` section, for ``curve_every``).

    Returns:
        the trained model and its per-epoch history (``loss``, ``cross_entropy``,
        ``reconstruction``, ``entropy``, ``accuracy``, ``val_*``).
    """
    train = start_stage(parse_train(train_params, seed, defaults={"batch_labeled": 32, "batch_unlabeled": 32})[0])
    model = build_inversion_model(split, model_params)
    logger.info("inversion: alpha=%s beta=%s cotangent=%s unsupervised_on=%s, backbone %s (%s parameters)",
                model.alpha, model.beta, model.cotangent, model.unsupervised_on, model.backbone.name,
                f"{model.backbone.count_params():,}")
    return model, train_stage(model, split, train, stage="inversion", evaluation=parse_evaluation(eval_params))


def plot_reconstructions(model: InversionSSL, split, plot_params: dict | None = None) -> tuple[Figure, dict]:
    """A grid of test inputs beside their reconstructions ``x_hat = A[x]^T c`` (and the
    reconstruction errors over ``num_eval`` test inputs, logged as ``reconstruction.test_mse`` /
    ``reconstruction.test_cosine``)."""
    p = parse_plot(plot_params)
    x = split_access.first_images(split, "test", p.num_eval)
    mse, cos, recs = [], [], []
    for i in range(0, len(x), p.batch_size):
        rec = model.reconstruct(x[i:i + p.batch_size])
        mse.append(reconstruction_error(x[i:i + p.batch_size], rec).numpy())
        cos.append(cosine_reconstruction_error(x[i:i + p.batch_size], rec).numpy())
        if not recs:
            recs.append(rec.numpy())
    metrics = {"test_mse": {"value": float(np.concatenate(mse).mean()), "step": 0},
               "test_cosine": {"value": float(np.concatenate(cos).mean()), "step": 0}}
    fig = plots.image_grid_figure({"input": x[:p.num_examples], "reconstruction": recs[0][:p.num_examples]},
                                  title=f"x_hat = A[x]^T c, cotangent={model.cotangent}", max_columns=p.num_examples)
    return fig, metrics
