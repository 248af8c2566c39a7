"""Builders and training shared by the generative pipelines (``m1``, ``m2``, ``m1_m2``; Kingma
et al. 2014, METHODS.md §5): M1 and M2 from their checked sections, M2-style training on
labeled + unlabeled batches, and the image grids."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import ConfigError, split_access
from ssl_pipelines.methods import M1, M2
from ssl_pipelines.methods.m1 import binarize_once
from ssl_pipelines.models import build_backbone, conditional_gaussian_encoder, decoder, gaussian_encoder
from ssl_pipelines.params import Evaluation, TrainConfig, parse_train
from ssl_pipelines.params.vae import M2_TRAIN_DEFAULTS, M1Params, M2Params, check_bernoulli_inputs, parse_m1, parse_plots
from ssl_pipelines.pipelines.common_training import (
    compile_model,
    fit_stage,
    images_per_step,
    start_stage,
    test_curve,
    train_stage,
    training_batches,
    validation_batches,
)

logger = logging.getLogger(__name__)


def check_bernoulli_split(split, likelihood: str) -> None:
    """A Bernoulli likelihood needs inputs in [0, 1]: checked on in-memory arrays (streamed
    files are decoded to [0, 1])."""
    if likelihood != "bernoulli" or split_access.is_streaming(split):
        return
    parts = [p for p in (split.x_labeled, split.x_unlabeled) if len(p)]
    check_bernoulli_inputs(min(float(p.min()) for p in parts), max(float(p.max()) for p in parts), likelihood)


def fixed_labeled_binarization(split, seed: int):
    """A copy of ``split`` whose labeled images are binarized once (``model.binarize_labeled:
    fixed``; :func:`~ssl_pipelines.methods.m1.binarize_once`, seeded by ``seed``); in-memory splits only."""
    if split_access.is_streaming(split):
        raise ConfigError("model.binarize_labeled: fixed needs the labeled images in memory, got a streamed "
                          "split (data.streaming: true); use binarize_labeled: dynamic")
    return dataclasses.replace(split, x_labeled=binarize_once(split.x_labeled, seed))


def build_m1(split, p: M1Params, seed: int) -> M1:
    """An untrained :class:`M1`: encoder, mirrored decoder, classifier on the latent means."""
    check_bernoulli_split(split, p.likelihood)
    enc = gaussian_encoder(split.input_shape, latent_dim=p.latent_dim, hidden_units=p.hidden_units, **p.layer_kwargs)
    dec = decoder(p.latent_dim, split.input_shape, hidden_units=list(reversed(p.hidden_units)),
                  likelihood=p.likelihood, **p.layer_kwargs)
    clf = build_backbone(p.classifier.name, (p.latent_dim,), split.num_classes, **p.classifier.kwargs)
    return M1(clf, enc, dec, likelihood=p.likelihood, binarize=p.binarize, seed=seed,
              kl_warmup_steps=p.kl_warmup_steps, kl_weight=p.kl_weight, name="m1")


def build_m2(input_shape, num_classes: int, num_labeled: int, num_unlabeled: int, p: M2Params, seed: int) -> M2:
    """An untrained :class:`M2` (paper defaults: one hidden layer of 500 softplus units
    everywhere, z = 50, N(0, 1e-3^2) weights, alpha = 0.1)."""
    clf = build_backbone("mlp", input_shape, num_classes, hidden_units=list(p.classifier_hidden_units),
                         **p.layer_kwargs)
    enc = conditional_gaussian_encoder(input_shape, num_classes, latent_dim=p.latent_dim, hidden_units=p.hidden_units,
                                       log_var_activation=p.log_var_activation, **p.layer_kwargs)
    dec = decoder(p.latent_dim, input_shape, hidden_units=list(reversed(p.hidden_units)), likelihood=p.likelihood,
                  num_classes=num_classes, **p.layer_kwargs)
    return M2(clf, enc, dec, num_classes=num_classes, num_labeled=num_labeled, num_unlabeled=num_unlabeled,
              alpha=p.alpha, likelihood=p.likelihood, binarize=p.binarize, seed=seed,
              bound_weighting=p.bound_weighting, kl=p.kl, name="m2")


def pretrain_m1(split, model_params: dict, pretrain_params: dict, seed: int) -> tuple[M1, dict]:
    """Train the M1 VAE (ELBO, Eq. 5) on all labeled + unlabeled training images, labels unused."""
    train = start_stage(parse_train(pretrain_params, seed, "pretrain", defaults={"batch_size": 100})[0])
    model = build_m1(split, parse_m1(model_params, "model"), train.seed)
    n_l, n_u = (split_access.part_size(split, part) for part in ("labeled", "unlabeled"))
    images = split_access.relabeled(split, [("labeled", np.zeros(n_l, np.int32)), ("unlabeled", np.zeros(n_u, np.int32))])
    model(split_access.first_images(split, "labeled", 1))
    logger.info("M1 parameters: %s", model.count_params_by_part())
    return model, train_stage(model, images, train, stage="m1_pretrain", unlabeled=False, validate=False)


def m2_train_config(train_params: dict | None, seed: int) -> TrainConfig:
    return parse_train(train_params, seed, defaults=M2_TRAIN_DEFAULTS)[0]


def train_generative_ssl(model, split, train: TrainConfig, stage: str, callbacks=None,
                         evaluation: Evaluation | None = None) -> dict:
    """Fit an M2-style model on ``batch_labeled`` + ``batch_unlabeled`` batches (``steps_per_epoch``
    null = one pass over the unlabeled images). Adds ``images_per_second`` (labeled + unlabeled
    images per second of training) to the history and to MLflow (``<stage>.images_per_second``). ``callbacks``: extra Keras callbacks;
    ``evaluation``: the checked ``evaluation:`` section (its learning curve)."""
    if split_access.part_size(split, "unlabeled") == 0:
        raise ConfigError(f"{stage} needs unlabeled images, but the split has none (check data.max_unlabeled)")
    compile_model(model, train)
    stream, steps = training_batches(split, train)
    model(split_access.first_images(split, "labeled", 1))
    logger.info("%s parameters: %s; batches of %d labeled + %d unlabeled, %d steps/epoch", stage,
                model.count_params_by_part(), train.batch_labeled, train.batch_unlabeled, steps)
    return fit_stage(model, train, stream, steps, stage=stage, validation=validation_batches(split),
                     callbacks=callbacks, curve=test_curve(model, split, evaluation, stage),
                     images_per_step=images_per_step(train))


# === Figures ===
def image_rows(x: np.ndarray, shape) -> np.ndarray:
    """Flattened ``(N, D)`` outputs back to ``(N, *shape)`` images for the grids."""
    return np.asarray(x).reshape((-1, *shape))


def class_sample_grid(generate, latent_dim: int, num_classes: int, num_rows: int, seed: int) -> np.ndarray:
    """``(num_rows, C, D)``: row ``r`` decodes one ``z ~ N(0, I)`` with every class ``y`` (style fixed, class varies)."""
    z = np.random.default_rng(seed).normal(size=(num_rows, 1, latent_dim)).astype(np.float32)
    z = np.repeat(z, num_classes, axis=1)
    y = np.tile(np.eye(num_classes, dtype=np.float32)[None], (num_rows, 1, 1))
    return np.asarray(generate(tf.constant(z), tf.constant(y)))


def plot_generative(model, split, plot_params: dict | None, seed: int) -> tuple[Figure, Figure]:
    """The "analogies" grid ``E[x|y,z]`` (rows: z ~ p(z), columns: classes) and test reconstructions."""
    p = parse_plots(plot_params)
    latent = model.m2 if hasattr(model, "m2") else model
    z_dim = latent.encoder.outputs[0].shape[-1]
    grid = class_sample_grid(model.generate, z_dim, split.num_classes, p.num_samples, seed)
    names = split.class_names or [str(c) for c in range(split.num_classes)]
    sample_fig = plots.image_grid_figure({f"z{r}": image_rows(grid[r], split.input_shape) for r in range(p.num_samples)},
                                         title=f"samples E[x|y,z] per class (columns {', '.join(names)})",
                                         max_columns=split.num_classes)
    x = split_access.first_images(split, "test", p.num_images)
    recon = image_rows(model.reconstruct(x), split.input_shape)
    rec_fig = plots.image_grid_figure({"input": x, "reconstruction": recon}, title="reconstructions (test)")
    return sample_fig, rec_fig
