"""Nodes of the ``m1`` pipeline (Kingma et al. 2014 M1, METHODS.md §5.1): after
``common_generative.pretrain_m1`` (the VAE on every training image), fit a classifier on the
latent means of the labeled images."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import split_access
from ssl_pipelines.methods import M1, SupervisedClassifier
from ssl_pipelines.params import parse_evaluation, parse_train
from ssl_pipelines.methods.m1 import label_spreading
from ssl_pipelines.params.vae import parse_plots, parse_transduction
from ssl_pipelines.pipelines.common_generative import image_rows
from ssl_pipelines.pipelines.common_training import start_stage, train_stage

logger = logging.getLogger(__name__)


def train_m1_classifier(m1: M1, split, train_params: dict, seed: int, pretrain_history: dict,
                        transduction_params: dict | None = None, eval_params: dict | None = None) -> tuple[M1, dict]:
    """Fit M1's classifier on the posterior means ``mu(x)`` of the labeled images (encoder frozen).

    With ``transduction.neighbors > 0`` the unlabeled images' ``mu(x)`` join them, labeled by
    :func:`~ssl_pipelines.methods.m1.label_spreading` (the paper's TSVM also labels the unlabeled
    latents). ``eval_params`` (``evaluation``): the classifier's learning curve on the test latents
    (``m1_classifier.test_accuracy`` with ``curve_every``). Returns the M1 model (``call(x) = classifier(mu(x))``) and the two-stage history.
    """
    train = start_stage(parse_train(train_params, seed, defaults={"batch_size": 32})[0])
    spread = parse_transduction(transduction_params)
    encode = lambda x: m1.encode(x)[0]  # noqa: E731
    features = split_access.feature_split(split, encode)
    if spread.neighbors and split_access.part_size(split, "unlabeled"):
        z_u = split_access.map_part(encode, split, "unlabeled")
        y_u = label_spreading(features.x_labeled, features.y_labeled, z_u, split.num_classes,
                              spread.neighbors, spread.alpha)
        logger.info("M1 classifier: %d labeled + %d unlabeled latents labeled by label spreading (%d neighbours, "
                    "alpha %g)", len(features.y_labeled), len(y_u), spread.neighbors, spread.alpha)
        features = dataclasses.replace(features, x_labeled=np.concatenate([features.x_labeled, z_u]),
                                       y_labeled=np.concatenate([np.asarray(features.y_labeled, np.int64), y_u]))
    clf = SupervisedClassifier(m1.backbone, name="m1_classifier")
    history = train_stage(clf, features, train, stage="m1_classifier", unlabeled=False,
                          evaluation=parse_evaluation(eval_params), curve_of=(m1, split))
    return m1, {"stages": {"m1_pretrain": pretrain_history, "m1_classifier": history}}


def plot_m1(m1: M1, split, plot_params: dict | None, seed: int) -> tuple[Figure, Figure]:
    """Test reconstructions ``E[x | mu(x)]`` and samples ``E[x|z], z ~ p(z)``."""
    p = parse_plots(plot_params, num_samples=2)
    x = split_access.first_images(split, "test", p.num_images)
    recon = image_rows(m1.decode_mean(m1.encode(x)[0]), split.input_shape)
    rec_fig = plots.image_grid_figure({"input": x, "reconstruction": recon}, title="M1 reconstructions (test)")
    z_dim = m1.encoder.outputs[0].shape[-1]
    z = np.random.default_rng(seed).normal(size=(p.num_samples * 10, z_dim)).astype(np.float32)
    samples = image_rows(m1.decode_mean(z), split.input_shape).reshape((-1, 10, *split.input_shape))
    sample_fig = plots.image_grid_figure({f"z batch {i}": s for i, s in enumerate(samples)},
                                         title="M1 samples E[x|z], z ~ N(0, I)")
    return rec_fig, sample_fig
