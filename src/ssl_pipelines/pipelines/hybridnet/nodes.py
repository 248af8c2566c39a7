"""Nodes: build and train a HybridNet from parameters; draw its information-separation figure."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import ConfigError, SSLSplit, eval_stream
from ssl_pipelines.methods import HybridNet
from ssl_pipelines.models import build_hybrid_branches
from ssl_pipelines.pipelines.common_nodes import check_keys
from ssl_pipelines.pipelines.mean_teacher.nodes import check_number, resolve_augment, ssl_batches
from ssl_pipelines.pipelines.training_nodes import prepare_training

logger = logging.getLogger(__name__)

MODEL_KEYS = {"arch", "stages", "top", "stem", "batch_norm", "dropout", "input_noise", "unpool_u"}
LOSS_KEYS = {"lambda_cls", "lambda_rec", "lambda_inter", "lambda_stab", "balanced", "ema_decay",
             "stab_rampup_epochs", "rec_rampup_epochs", "inter_rampup_epochs", "rampdown_epochs"}


def hybridnet_kwargs(loss_params: dict | None, steps_per_epoch: int, epochs: int) -> dict:
    """``loss:`` parameters -> ``HybridNet`` keyword arguments (epochs turned into steps).

    ``rampdown_epochs``: the reconstruction weights decay to 0 at this epoch (null: the last
    epoch, as the released code; 0: no decay).
    """
    p = check_keys("loss", loss_params, LOSS_KEYS)
    kw = {k: check_number(f"loss.{k}", p.get(k, d)) for k, d in
          (("lambda_cls", 1.0), ("lambda_rec", 1.0), ("lambda_inter", 1.0), ("lambda_stab", 100.0))}
    if not any(kw.values()):
        raise ConfigError("at least one of loss.lambda_cls/lambda_rec/lambda_inter/lambda_stab must be > 0")
    balanced = p.get("balanced", True)
    if not isinstance(balanced, bool):
        raise ConfigError(f"loss.balanced must be true or false, got {balanced!r}")
    kw["balanced"] = balanced
    kw["ema_decay"] = check_number("loss.ema_decay", p.get("ema_decay", 0.97), 0.0, 1.0, high_open=True)
    for key, default in (("stab", 5), ("rec", 5), ("inter", 2)):
        epochs_ = check_number(f"loss.{key}_rampup_epochs", p.get(f"{key}_rampup_epochs", default))
        kw[f"{key}_rampup_steps"] = int(round(epochs_ * steps_per_epoch))
    down = p.get("rampdown_epochs")
    down = epochs if down is None else check_number("loss.rampdown_epochs", down)
    kw["rampdown_steps"] = int(round(down * steps_per_epoch))
    return kw


def build_hybridnet(model_params: dict, loss_params: dict, split: SSLSplit, steps_per_epoch: int, epochs: int,
                    augment: tuple[int, bool] = (0, False), name: str = "hybridnet") -> HybridNet:
    """``model:`` + ``loss:`` parameters -> an uncompiled :class:`HybridNet`."""
    params = check_keys("model", model_params, MODEL_KEYS)
    arch = params.pop("arch", "convlarge")
    try:
        parts = build_hybrid_branches(arch, split.input_shape, split.num_classes, **params)
    except TypeError as exc:
        raise ConfigError(f"bad model parameters for HybridNet: {exc}") from exc
    kw = hybridnet_kwargs(loss_params, steps_per_epoch, epochs)
    model = HybridNet(**parts, **kw, augment_shift=augment[0], augment_flip=augment[1], name=name)
    logger.info("HybridNet parameters: %s", model.count_params_by_part())
    return model


def train_hybridnet(split: SSLSplit, model_params: dict, loss_params: dict, train_params: dict, seed: int):
    """Train a HybridNet (both branches, all loss terms switched by ``loss:``).

    Returns:
        the trained model (``call`` = EMA classifier) and its per-epoch history.
    """
    train = prepare_training(train_params, seed, defaults={"batch_labeled": 20, "batch_unlabeled": 80})
    augment = resolve_augment(train.augment)
    stream, steps = ssl_batches(split, train)
    model = build_hybridnet(model_params, loss_params, split, steps, train.epochs, augment)
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="hybridnet")
    return model, history


def plot_reconstructions(model: HybridNet, split: SSLSplit, figure_params: dict | None) -> tuple[Figure, dict]:
    """The paper's information-separation figure (Fig. 4 style): rows ``x, x̂_c, x̂_u, x̂`` for the
    first ``n_images`` test images, plus the test reconstruction errors as metrics
    (``reconstruction.mse_c``, ``mse_u``, ``mse``)."""
    params = check_keys("figures", figure_params, {"n_images"})
    n = params.get("n_images", 10)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"figures.n_images must be a positive integer, got {n!r}")
    rec = model.reconstruct(split.x_test[: max(n, 256)])
    err = {k: float(np.mean((rec[f"x_hat{s}"] - rec["input"]) ** 2)) for k, s in
           (("mse_c", "_c"), ("mse_u", "_u"), ("mse", ""))}
    logger.info("test reconstruction MSE: %s", err)
    fig = plots.image_grid_figure(plots.to_display_range({k: v[:n] for k, v in rec.items()}),
                                  title="x, x_hat_c (discriminative), x_hat_u (unsupervised), x_hat = sum")
    return fig, {k: {"value": v, "step": 0} for k, v in err.items()}
