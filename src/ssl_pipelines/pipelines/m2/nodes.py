"""Nodes of the ``m2`` pipeline (Kingma et al. 2014 M2, METHODS.md §5.1, §5.6): train M2 on the
labeled and unlabeled images, then draw the class-conditional sample grid ("analogies") and
reconstructions. ``build_m2`` and ``train_generative_ssl`` are shared with ``m1_m2``."""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import ConfigError, SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.methods import M2
from ssl_pipelines.models import build_backbone, conditional_gaussian_encoder, decoder
from ssl_pipelines.pipelines.common_nodes import check_keys, check_seed
from ssl_pipelines.pipelines.m1.nodes import (
    PLOT_KEYS,
    VAE_KEYS,
    ThroughputLogger,
    check_bernoulli_data,
    check_vae_params,
    image_rows,
)
from ssl_pipelines.pipelines.training_nodes import prepare_training

logger = logging.getLogger(__name__)

M2_KEYS = VAE_KEYS | {"classifier_hidden_units", "alpha", "bound_weighting", "kl", "log_var_activation",
                      "kernel_initializer"}
M2_TRAIN_DEFAULTS = {"batch_labeled": 10, "batch_unlabeled": 100}


def build_m2(input_shape, num_classes: int, num_labeled: int, num_unlabeled: int, model_params: dict,
             seed: int, section: str = "model") -> M2:
    """An untrained :class:`M2` from ``model:`` parameters (paper defaults: one hidden layer of 500
    softplus units everywhere, z = 50, N(0, 1e-3^2) weights, alpha = 0.1)."""
    p = check_vae_params(section, model_params, M2_KEYS)
    alpha = p.get("alpha", 0.1)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
        raise ConfigError(f"{section}.alpha must be a non-negative number, got {alpha!r}")
    units = p.get("hidden_units", [500])
    clf_units = p.get("classifier_hidden_units", units)
    if not isinstance(clf_units, (list, tuple)) or any(isinstance(u, bool) or not isinstance(u, int) or u < 1
                                                       for u in clf_units):
        raise ConfigError(f"{section}.classifier_hidden_units must be a list of positive integers, got {clf_units!r}")
    if not units:
        raise ConfigError(f"{section}.hidden_units must hold at least one layer for M2, got {units!r}")
    z = int(p.get("latent_dim", 50))
    likelihood = p.get("likelihood", "bernoulli")
    common = {"activation": p.get("activation", "softplus"), "kernel_init_std": p.get("kernel_init_std", 1e-3),
              "kernel_initializer": p.get("kernel_initializer", "glorot_uniform")}
    clf = build_backbone("mlp", input_shape, num_classes, hidden_units=list(clf_units), **common)
    enc = conditional_gaussian_encoder(input_shape, num_classes, latent_dim=z, hidden_units=units,
                                       log_var_activation=p.get("log_var_activation", "linear"), **common)
    dec = decoder(z, input_shape, hidden_units=list(reversed(units)), likelihood=likelihood,
                  num_classes=num_classes, **common)
    return M2(clf, enc, dec, num_classes=num_classes, num_labeled=num_labeled, num_unlabeled=num_unlabeled,
              alpha=float(alpha), likelihood=likelihood, binarize=p.get("binarize", True), seed=check_seed(seed),
              bound_weighting=p.get("bound_weighting", "paper"), kl=p.get("kl", "analytic"), name="m2")


def train_generative_ssl(model, split: SSLSplit, train, stage: str, callbacks=None) -> dict:
    """Fit an M2-style model on ``ssl_stream`` batches (``batch_labeled`` + ``batch_unlabeled``).

    ``steps_per_epoch`` null = one pass over the unlabeled images. Adds ``images_per_second``
    (labeled + unlabeled images per second of training) to the history.
    """
    # a batch larger than its data is a configuration error (ssl_stream says so), not clamped
    b_l = train.batch_labeled or M2_TRAIN_DEFAULTS["batch_labeled"]
    b_u = train.batch_unlabeled or M2_TRAIN_DEFAULTS["batch_unlabeled"]
    if len(split.x_unlabeled) == 0:
        raise ConfigError("M2 needs unlabeled images, but the split has none (check data.max_unlabeled)")
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    stream = ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=b_l,
                        batch_unlabeled=b_u, seed=train.seed, augment=train.augment)
    steps = train.steps_per_epoch or steps_per_epoch(len(split.x_unlabeled), b_u)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    model(split.x_labeled[:1])
    logger.info("%s parameters: %s; batches of %d labeled + %d unlabeled, %d steps/epoch", stage,
                model.count_params_by_part(), b_l, b_u, steps)
    speed = ThroughputLogger(b_l + b_u, steps)
    history = train.fit(model, stream, steps, val, stage=stage, callbacks=[speed, *(callbacks or [])])
    history["images_per_second"] = speed.rates
    logger.info("%s: %.0f training images/s (median over epochs)", stage, float(np.median(speed.rates)))
    return history


def train_m2(split: SSLSplit, model_params: dict, train_params: dict, seed: int) -> tuple[M2, dict]:
    """Train :class:`M2` on the split (Eqs. 6-9). Returns the model and its per-epoch history."""
    train = prepare_training(train_params, seed, defaults=M2_TRAIN_DEFAULTS)
    p = dict(model_params or {})
    check_bernoulli_data(split, p.get("likelihood", "bernoulli"))
    model = build_m2(split.input_shape, split.num_classes, len(split.x_labeled), len(split.x_unlabeled), p,
                     train.seed)
    history = train_generative_ssl(model, split, train, stage="m2")
    return model, history


def class_sample_grid(generate, latent_dim: int, num_classes: int, num_rows: int, seed: int) -> np.ndarray:
    """``(num_rows, C, D)``: row ``r`` decodes one ``z ~ N(0, I)`` with every class ``y`` (style fixed, class varies)."""
    z = np.random.default_rng(seed).normal(size=(num_rows, 1, latent_dim)).astype(np.float32)
    z = np.repeat(z, num_classes, axis=1)
    y = np.tile(np.eye(num_classes, dtype=np.float32)[None], (num_rows, 1, 1))
    return np.asarray(generate(tf.constant(z), tf.constant(y)))


def plot_generative(model, split: SSLSplit, plot_params: dict | None, seed: int) -> tuple[Figure, Figure]:
    """The "analogies" grid ``E[x|y,z]`` (rows: z ~ p(z), columns: classes) and test reconstructions."""
    p = check_keys("plots", plot_params, PLOT_KEYS)
    rows = int(p.get("num_samples", 5))
    latent = model.m2 if hasattr(model, "m2") else model
    z_dim = latent.encoder.outputs[0].shape[-1]
    grid = class_sample_grid(model.generate, z_dim, split.num_classes, rows, check_seed(seed))
    names = split.class_names or [str(c) for c in range(split.num_classes)]
    sample_fig = plots.image_grid_figure({f"z{r}": image_rows(grid[r], split.input_shape) for r in range(rows)},
                                         title=f"samples E[x|y,z] per class (columns {', '.join(names)})",
                                         max_columns=split.num_classes)
    x = split.x_test[: int(p.get("num_images", 10))]
    recon = image_rows(model.reconstruct(x), split.input_shape)
    rec_fig = plots.image_grid_figure({"input": x, "reconstruction": recon}, title="reconstructions (test)")
    return sample_fig, rec_fig
