"""Helpers that turn ``model:`` / ``train:`` parameters into library objects, shared by every
method's training node (so each node stays a few lines)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data import ConfigError, SSLSplit
from ssl_pipelines.models import build_backbone
from ssl_pipelines.pipelines.common_nodes import check_keys, check_seed
from ssl_pipelines.training import build_optimizer, check_positive_int, fit_model, set_global_seed
from ssl_pipelines.training.lr_schedule import LinearLrDecay, check_decay_start

logger = logging.getLogger(__name__)

TRAIN_KEYS = {"epochs", "steps_per_epoch", "batch_size", "batch_labeled", "batch_unlabeled", "optimizer",
              "augment", "jit_compile", "verbose", "deterministic", "lr_decay_start"}


@dataclasses.dataclass
class TrainConfig:
    """Resolved ``train:`` parameters of one training stage."""

    seed: int
    epochs: int
    steps_per_epoch: int | None
    batch_size: int
    batch_labeled: int | None
    batch_unlabeled: int | None
    optimizer_params: dict
    augment: dict | None
    jit_compile: bool
    verbose: Any
    extra: dict
    lr_decay_start: float | None = None

    @property
    def optimizer(self) -> keras.optimizers.Optimizer:
        """A fresh optimizer built from the parameters (one per stage)."""
        return build_optimizer(self.optimizer_params)

    def fit(self, model, stream: tf.data.Dataset, steps: int, validation=None, stage: str = "train",
            callbacks=None, epochs: int | None = None) -> dict:
        callbacks = list(callbacks or [])
        if self.lr_decay_start is not None:  # base rate read before any checkpoint restore
            base = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            callbacks.append(LinearLrDecay(base, self.lr_decay_start))
        return fit_model(model, stream, epochs=epochs or self.epochs, steps_per_epoch=steps,
                         validation_data=validation, stage=stage, callbacks=callbacks, verbose=self.verbose,
                         resume_key={"seed": self.seed, "augment": self.augment,
                                     **({"lr_decay_start": self.lr_decay_start} if self.lr_decay_start is not None else {})})


def prepare_training(train_params: dict | None, seed: int, defaults: dict | None = None,
                     extra_keys: set[str] | None = None) -> TrainConfig:
    """Validate ``train:`` parameters, seed everything and return a :class:`TrainConfig`.

    Args:
        train_params: ``epochs``, ``steps_per_epoch`` (null = one pass), ``batch_size`` or
            ``batch_labeled``/``batch_unlabeled``, ``optimizer`` ({name, learning_rate, ...}),
            ``augment`` ({max_shift, flip}), ``lr_decay_start`` (null: constant learning rate; a
            fraction f: constant for the first f of the steps, then linear to 0, as the released
            HybridNet code's effective schedule with f = 0.6, METHODS.md §1.3), ``jit_compile`` (default off: XLA was 1.6-3.6x slower
            on a 2-core CPU), ``verbose``, ``deterministic`` (TF op determinism), and any
            method-specific ``extra_keys`` (returned in ``extra``).
        seed: the run's seed.
        defaults: values used where a key is absent.
    """
    params = {**(defaults or {}), **dict(train_params or {})}
    params = check_keys("train", params, TRAIN_KEYS | set(extra_keys or ()))
    seed = check_seed(seed)
    set_global_seed(seed, deterministic=bool(params.get("deterministic", False)))
    epochs = check_positive_int("train.epochs", params.get("epochs", 1))
    steps = params.get("steps_per_epoch")
    if steps is not None:
        check_positive_int("train.steps_per_epoch", steps)
    batch_size = check_positive_int("train.batch_size", params.get("batch_size", 32))
    for key in ("batch_labeled", "batch_unlabeled"):
        if params.get(key) is not None:
            check_positive_int(f"train.{key}", params[key])
    build_optimizer(params.get("optimizer"))  # fail on bad optimizer parameters before training
    extra = {k: params[k] for k in (extra_keys or ()) if k in params}
    return TrainConfig(
        seed=seed, epochs=epochs, steps_per_epoch=steps, batch_size=batch_size,
        batch_labeled=params.get("batch_labeled"), batch_unlabeled=params.get("batch_unlabeled"),
        optimizer_params=dict(params.get("optimizer") or {}), augment=params.get("augment") or None,
        jit_compile=bool(params.get("jit_compile", False)), verbose=params.get("verbose", "auto"), extra=extra,
        lr_decay_start=check_decay_start(params.get("lr_decay_start")),
    )


def build_backbone_from_params(model_params: dict, split: SSLSplit, **overrides) -> keras.Model:
    """``model: {backbone: name, backbone_kwargs: {...}}`` -> a backbone for the split's inputs."""
    params = check_keys("model", model_params, {"backbone", "backbone_kwargs"})
    name = params.get("backbone")
    if not name:
        raise ConfigError(f"model.backbone must name a backbone, got {name!r}")
    kwargs = {**dict(params.get("backbone_kwargs") or {}), **overrides}
    net = build_backbone(name, split.input_shape, split.num_classes, **kwargs)
    logger.info("backbone %s: %s parameters", name, f"{net.count_params():,}")
    return net
