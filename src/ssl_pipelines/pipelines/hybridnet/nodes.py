"""Nodes: build and train a HybridNet from parameters; draw its information-separation figure."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import ConfigError, split_access
from ssl_pipelines.methods import HybridNet
from ssl_pipelines.models import build_hybrid_branches
from ssl_pipelines.params import parse_evaluation
from ssl_pipelines.params.ema_teacher import parse_figures, parse_hybrid_loss, parse_hybrid_model
from ssl_pipelines.pipelines.common_ema import augment_kwargs, ema_train_config, train_ema_model

logger = logging.getLogger(__name__)


def build_hybridnet(model_params: dict, loss_params: dict, split, steps_per_epoch: int, epochs: int,
                    augment: dict | None = None, name: str = "hybridnet") -> HybridNet:
    """``model:`` + ``loss:`` parameters -> an uncompiled :class:`HybridNet` (ramp-ups and the
    ramp-down in epochs turned into steps)."""
    arch, kwargs = parse_hybrid_model(model_params)
    loss = parse_hybrid_loss(loss_params)
    try:
        parts = build_hybrid_branches(arch, split.input_shape, split.num_classes, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad model parameters for HybridNet: {exc}") from exc
    model = HybridNet(**parts, **loss.model_kwargs(steps_per_epoch, epochs), **(augment or {}), name=name)
    logger.info("HybridNet parameters: %s", model.count_params_by_part())
    return model


def train_hybridnet(split, model_params: dict, loss_params: dict, train_params: dict, seed: int,
                    eval_params: dict | None = None):
    """Train a HybridNet (both branches, all loss terms switched by ``loss:``; ``eval_params``: the
    ``evaluation:`` section, for ``curve_every`` on the EMA classifier).

    Returns:
        the trained model (``call`` = EMA classifier) and its per-epoch history.
    """
    train = ema_train_config(train_params, seed)
    return train_ema_model(lambda steps: build_hybridnet(model_params, loss_params, split, steps, train.epochs,
                                                         augment_kwargs(train)),
                           split, train, stage="hybridnet", evaluation=parse_evaluation(eval_params))


def plot_reconstructions(model: HybridNet, split, figure_params: dict | None) -> tuple[Figure, dict]:
    """The paper's information-separation figure (Fig. 4 style): rows ``x, x̂_c, x̂_u, x̂`` for the
    first ``n_images`` test images, plus the test reconstruction errors as metrics
    (``reconstruction.mse_c``, ``mse_u``, ``mse``)."""
    n = parse_figures(figure_params)
    rec = model.reconstruct(split_access.first_images(split, "test", max(n, 256)))
    err = {k: float(np.mean((rec[f"x_hat{s}"] - rec["input"]) ** 2)) for k, s in
           (("mse_c", "_c"), ("mse_u", "_u"), ("mse", ""))}
    logger.info("test reconstruction MSE: %s", err)
    fig = plots.image_grid_figure(plots.to_display_range({k: v[:n] for k, v in rec.items()}),
                                  title="x, x_hat_c (discriminative), x_hat_u (unsupervised), x_hat = sum")
    return fig, {k: {"value": v, "step": 0} for k, v in err.items()}
