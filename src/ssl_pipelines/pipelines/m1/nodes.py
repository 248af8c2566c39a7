"""Nodes of the ``m1`` pipeline (Kingma et al. 2014 M1, METHODS.md §5.1): pretrain the VAE on every
training image, then fit a classifier on the latent means of the labeled images. Also the
generative-model helpers the ``m2`` and ``m1_m2`` nodes share (input checks, image grids)."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import ConfigError, SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.methods import M1, SupervisedClassifier
from ssl_pipelines.models import build_backbone, decoder, gaussian_encoder
from ssl_pipelines.models.vae import check_likelihood
from ssl_pipelines.pipelines.common_nodes import check_keys, check_seed
from ssl_pipelines.pipelines.training_nodes import prepare_training

logger = logging.getLogger(__name__)

VAE_KEYS = {"latent_dim", "hidden_units", "activation", "kernel_init_std", "likelihood", "binarize"}
M1_KEYS = VAE_KEYS | {"classifier", "kl_warmup_steps"}
PLOT_KEYS = {"num_images", "num_samples"}


class ThroughputLogger(keras.callbacks.Callback):
    """Records training images per second of each epoch (``steps x batch / wall time``)."""

    def __init__(self, images_per_step: int, steps: int):
        super().__init__()
        self.images = int(images_per_step) * int(steps)
        self.rates: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.images / max(time.perf_counter() - self._t0, 1e-9))


def check_positive(name: str, value, integer: bool = True):
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float)) and value > 0
    if not ok:
        raise ConfigError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")
    return value


def check_vae_params(section: str, params: dict, allowed: set[str]) -> dict:
    """Validate the generative-model parameters shared by M1 and M2 (raises ConfigError)."""
    params = check_keys(section, params, allowed)
    check_positive(f"{section}.latent_dim", params.get("latent_dim", 50))
    units = params.get("hidden_units", [500])
    if not isinstance(units, (list, tuple)) or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units):
        raise ConfigError(f"{section}.hidden_units must be a list of positive integers, got {units!r}")
    std = params.get("kernel_init_std", 1e-3)
    if std is not None:
        check_positive(f"{section}.kernel_init_std", std, integer=False)
    try:
        check_likelihood(params.get("likelihood", "bernoulli"))
    except ConfigError as exc:
        raise ConfigError(f"{section}.{exc}") from None
    if not isinstance(params.get("binarize", True), bool):
        raise ConfigError(f"{section}.binarize must be true or false, got {params.get('binarize')!r}")
    if not isinstance(params.get("activation", "softplus"), str):
        raise ConfigError(f"{section}.activation must be an activation name, got {params.get('activation')!r}")
    return params


def check_bernoulli_data(split: SSLSplit, likelihood: str) -> None:
    """A Bernoulli likelihood needs inputs in [0, 1] (``data.normalization: unit``)."""
    if likelihood != "bernoulli":
        return
    lo = min(float(split.x_labeled.min()), float(split.x_unlabeled.min()) if len(split.x_unlabeled) else 0.0)
    hi = max(float(split.x_labeled.max()), float(split.x_unlabeled.max()) if len(split.x_unlabeled) else 1.0)
    if lo < 0.0 or hi > 1.0:
        raise ConfigError(f"likelihood 'bernoulli' needs inputs in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                          f"use data.normalization: unit or likelihood: gaussian")


def build_m1(split: SSLSplit, model_params: dict, seed: int) -> M1:
    """An untrained :class:`M1` from ``model:`` parameters."""
    p = check_vae_params("model", model_params, M1_KEYS)
    check_bernoulli_data(split, p.get("likelihood", "bernoulli"))
    z = int(p.get("latent_dim", 50))
    common = {"activation": p.get("activation", "softplus"), "kernel_init_std": p.get("kernel_init_std", 1e-3)}
    units = p.get("hidden_units", [500, 500])
    enc = gaussian_encoder(split.input_shape, latent_dim=z, hidden_units=units, **common)
    dec = decoder(z, split.input_shape, hidden_units=list(reversed(units)),
                  likelihood=p.get("likelihood", "bernoulli"), **common)
    clf_params = check_keys("model.classifier", p.get("classifier") or {"backbone": "mlp"}, {"backbone", "backbone_kwargs"})
    clf = build_backbone(clf_params.get("backbone", "mlp"), (z,), split.num_classes,
                         **dict(clf_params.get("backbone_kwargs") or {}))
    return M1(clf, enc, dec, likelihood=p.get("likelihood", "bernoulli"), binarize=p.get("binarize", True),
              seed=check_seed(seed), kl_warmup_steps=p.get("kl_warmup_steps", 0), name="m1")


def pretrain_m1(split: SSLSplit, model_params: dict, pretrain_params: dict, seed: int) -> tuple[M1, dict]:
    """Train the M1 VAE (ELBO, Eq. 5) on all labeled + unlabeled training images, labels unused."""
    train = prepare_training(pretrain_params, seed, defaults={"batch_size": 100})
    model = build_m1(split, model_params, train.seed)
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    x_all = np.concatenate([split.x_labeled, split.x_unlabeled])
    batch = min(train.batch_size, len(x_all))
    stream = ssl_stream(x_all, np.zeros(len(x_all), np.int32), batch_labeled=batch, seed=train.seed)
    steps = train.steps_per_epoch or steps_per_epoch(len(x_all), batch)
    model(split.x_labeled[:1])
    logger.info("M1 parameters: %s", model.count_params_by_part())
    history = train.fit(model, stream, steps, stage="m1_pretrain")
    return model, history


def train_m1_classifier(m1: M1, split: SSLSplit, train_params: dict, seed: int,
                        pretrain_history: dict) -> tuple[M1, dict]:
    """Fit M1's classifier on the posterior means ``mu(x)`` of the labeled images (encoder frozen).

    Returns the M1 model (``call(x) = classifier(mu(x))``) and the two-stage history.
    """
    train = prepare_training(train_params, seed, defaults={"batch_size": 32})
    feats = np.asarray(m1.encode(split.x_labeled)[0])
    clf = SupervisedClassifier(m1.backbone, name="m1_classifier")
    clf.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    batch = min(train.batch_size, len(feats))
    stream = ssl_stream(feats, split.y_labeled, batch_labeled=batch, seed=train.seed)
    steps = train.steps_per_epoch or steps_per_epoch(len(feats), batch)
    val = eval_stream(np.asarray(m1.encode(split.x_val)[0]), split.y_val) if len(split.x_val) else None
    history = train.fit(clf, stream, steps, val, stage="m1_classifier")
    return m1, {"stages": {"m1_pretrain": pretrain_history, "m1_classifier": history}}


def image_rows(x: np.ndarray, shape) -> np.ndarray:
    """Flattened ``(N, D)`` outputs back to ``(N, *shape)`` images for the grids."""
    return np.asarray(x).reshape((-1, *shape))


def plot_m1(m1: M1, split: SSLSplit, plot_params: dict | None, seed: int) -> tuple[Figure, Figure]:
    """Test reconstructions ``E[x | mu(x)]`` and samples ``E[x|z], z ~ p(z)``."""
    p = check_keys("plots", plot_params, PLOT_KEYS)
    n = int(p.get("num_images", 10))
    x = split.x_test[:n]
    recon = image_rows(m1.decode_mean(m1.encode(x)[0]), split.input_shape)
    rec_fig = plots.image_grid_figure({"input": x, "reconstruction": recon}, title="M1 reconstructions (test)")
    z_dim = m1.encoder.outputs[0].shape[-1]
    z = np.random.default_rng(seed).normal(size=(int(p.get("num_samples", 2)) * 10, z_dim)).astype(np.float32)
    samples = image_rows(m1.decode_mean(z), split.input_shape).reshape((-1, 10, *split.input_shape))
    sample_fig = plots.image_grid_figure({f"z batch {i}": s for i, s in enumerate(samples)},
                                         title="M1 samples E[x|z], z ~ N(0, I)")
    return rec_fig, sample_fig
