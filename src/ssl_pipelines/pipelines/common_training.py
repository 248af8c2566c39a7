"""The training steps every method node composes: start a stage, build a backbone, build its
stream, compile, fit. One stream path for every pipeline (:mod:`ssl_pipelines.data.split_access`),
so in-memory and streamed image folders (``data.streaming: true``) train every method alike.

The parameters come checked from :mod:`ssl_pipelines.params` (:class:`~ssl_pipelines.params.TrainConfig`).
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from ssl_pipelines.data import split_access, steps_per_epoch
from ssl_pipelines.models import build_backbone
from ssl_pipelines.params import Backbone, Evaluation, TrainConfig
from ssl_pipelines.training import CpuTimeBudget, fit_model, set_global_seed
from ssl_pipelines.training.callbacks import ThroughputLogger
from ssl_pipelines.training.curve import AccuracyCurve
from ssl_pipelines.training.lr_schedule import LinearLrDecay

logger = logging.getLogger(__name__)


def start_stage(train: TrainConfig) -> TrainConfig:
    """Seed Python, numpy and TensorFlow with the stage's seed (and switch on op determinism with
    ``deterministic``) right before its models are built. Returns ``train``."""
    set_global_seed(train.seed, deterministic=train.deterministic)
    return train


def build_backbone_for(split, backbone: Backbone, **overrides) -> keras.Model:
    """A registered backbone for the split's inputs and classes."""
    net = build_backbone(backbone.name, split.input_shape, split.num_classes, **{**backbone.kwargs, **overrides})
    logger.info("backbone %s: %s parameters", backbone.name, f"{net.count_params():,}")
    return net


def training_batches(split, train: TrainConfig, *, unlabeled: bool = True, with_indices: bool = False,
                     augment_in_stream: bool = True, epoch_over: str | None = None) -> tuple[tf.data.Dataset, int]:
    """The stage's endless training stream and its steps per epoch.

    Args:
        unlabeled: a semi-supervised stream (``batch_labeled`` + ``batch_unlabeled`` per step);
            else a labeled-only stream. The labeled batch is ``batch_labeled`` when set, else
            ``batch_size``.
        augment_in_stream: apply ``train.augment`` in the stream (off for models that draw
            their own two augmented views, Mean Teacher and HybridNet).
        epoch_over: what ``steps_per_epoch: null`` passes over once: ``"unlabeled"`` (default of
            a semi-supervised stream), ``"labeled"`` (default of a labeled-only one) or ``"all"``
            (labeled + unlabeled images at ``batch_labeled + batch_unlabeled`` per step).
    """
    b_l = int(train.batch_labeled or train.batch_size)
    b_u = int(train.batch_unlabeled or 0) if unlabeled else 0
    names = (train.key("batch_labeled" if train.batch_labeled else "batch_size"), train.key("batch_unlabeled"))
    stream = split_access.training_stream(split, batch_labeled=b_l, batch_unlabeled=b_u, seed=train.seed,
                                          augment=train.augment.as_dict() if augment_in_stream else None,
                                          with_indices=with_indices, batch_names=names)
    over = epoch_over or ("unlabeled" if b_u else "labeled")
    n = {"unlabeled": split_access.part_size(split, "unlabeled"), "labeled": split_access.part_size(split, "labeled"),
         "all": split_access.part_size(split, "labeled") + split_access.part_size(split, "unlabeled")}[over]
    per_step = {"unlabeled": b_u, "labeled": b_l, "all": b_l + b_u}[over]
    return stream, train.steps_per_epoch or steps_per_epoch(n, per_step)


def images_per_step(train: TrainConfig, unlabeled: bool = True) -> int:
    """Training images one step reads: ``batch_labeled`` (else ``batch_size``) plus, for a
    semi-supervised stream, ``batch_unlabeled``."""
    return int(train.batch_labeled or train.batch_size) + (int(train.batch_unlabeled or 0) if unlabeled else 0)


def validation_batches(split) -> tf.data.Dataset | None:
    """The validation part as ``(x, y)`` batches, or None when the split holds none."""
    return split_access.evaluation_stream(split, "validation") if split_access.part_size(split, "validation") else None


def test_curve(model: keras.Model, split, evaluation: Evaluation | None, stage: str) -> AccuracyCurve | None:
    """The stage's learning curve of test accuracy (``evaluation.curve_every``; ``None`` when off), on
    the ``evaluation.test_subset`` the final evaluation uses."""
    if evaluation is None or evaluation.curve_every is None:
        return None
    test = split_access.test_subset(split, evaluation.test_subset, evaluation.test_subset_seed)
    images = split_access.images_at(test, "test", np.arange(split_access.part_size(test, "test")))
    return AccuracyCurve(lambda x: model(x, training=False), images, split_access.part_labels(test, "test"),
                         evaluation.curve_every, evaluation.curve_unit, stage=stage, batch_size=evaluation.batch_size)


def compile_model(model: keras.Model, train: TrainConfig) -> keras.Model:
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    return model


def fit_stage(model: keras.Model, train: TrainConfig, stream: tf.data.Dataset, steps: int, *, stage: str,
              validation: tf.data.Dataset | None = None, callbacks=None, epochs: int | None = None,
              curve: AccuracyCurve | None = None, images_per_step: int | None = None) -> dict:
    """``fit_model`` with the stage's epochs, verbosity, learning-rate decay, time budget
    (``train.cpu_minutes`` or ``train.wall_minutes``; what it allowed is logged, and to MLflow) and
    resume key. With ``images_per_step`` the training images per second of every epoch are in the
    history (``images_per_second``) and in MLflow (``<stage>.images_per_second``, step = epoch)."""
    clock, minutes = train.budget or (None, None)
    budget = CpuTimeBudget(minutes, train.budget_check, clock=clock) if clock is not None else None
    callbacks = ([budget] if budget is not None else []) + list(callbacks or [])  # first: see CpuTimeBudget
    speed = ThroughputLogger(images_per_step, steps) if images_per_step else None
    if speed is not None:
        callbacks.append(speed)
    if curve is not None:
        curve.budget = budget  # its evaluations are not training time
        callbacks.append(curve)
    if train.lr_decay_start is not None:  # base rate read before any checkpoint restore
        base = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callbacks.append(LinearLrDecay(base, train.lr_decay_start, budget=budget))
    key = {"seed": train.seed, "augment": train.augment.as_dict()}
    if train.lr_decay_start is not None:
        key["lr_decay_start"] = train.lr_decay_start
    if budget is not None:
        key[f"{clock}_minutes"], key["budget_check"] = minutes, train.budget_check
    history = fit_model(model, stream, epochs=epochs or train.epochs, steps_per_epoch=steps, validation_data=validation,
                        stage=stage, callbacks=callbacks, verbose=train.verbose, resume_key=key)
    if budget is not None:
        summary = budget.summary()
        logger.info("%s: stopped by %s after %.2f of %.2f %s-minutes (%d epochs, %d steps)", stage,
                    summary["stop_reason"], summary[f"{clock}_minutes"], minutes, clock.upper() if clock == "cpu"
                    else clock, summary["epochs_completed"], summary["steps_completed"])
        budget.log_to_mlflow(stage)
    if speed is not None:
        history["images_per_second"] = speed.rates
        speed.log_to_mlflow(stage)
        logger.info("%s: %.0f training images/s (median over epochs)", stage, float(np.median(speed.rates)))
        if train.roofline and speed.step_ms():
            log_roofline(model, stream, stage, speed.step_ms())
    if curve is not None:  # the curve's accuracies (at evaluation.curve_every) travel with the history
        history["test_accuracy"] = [acc for _, acc in curve.points]
    return history


def log_roofline(model: keras.Model, stream: tf.data.Dataset, stage: str, step_ms: float) -> None:
    """``train.roofline``: the step's GFLOP, achieved GFLOP/s, the GEMM peak in the run's precision
    and their ratio, logged as ``<stage>.step_gflop`` / ``.achieved_gflops`` / ``.gemm_peak_gflops`` /
    ``.roofline`` (:mod:`ssl_pipelines.training.flops`)."""
    import mlflow

    from ssl_pipelines.training.flops import gemm_peak_gflops, train_step_gflop

    gflop = train_step_gflop(model, next(iter(stream)))
    peak = gemm_peak_gflops(keras.mixed_precision.global_policy().compute_dtype)
    if gflop is None:
        logger.info("%s: the step's FLOPs could not be counted; GEMM peak %.0f GFLOP/s", stage, peak)
        return
    achieved = gflop / (step_ms / 1000.0)
    logger.info("%s: %.3f GFLOP per step, %.1f GFLOP/s achieved = %.1f %% of a GEMM's %.0f GFLOP/s", stage, gflop,
                achieved, 100.0 * achieved / peak, peak)
    if mlflow.active_run() is not None:
        mlflow.log_metrics({f"{stage}.step_gflop": gflop, f"{stage}.achieved_gflops": achieved,
                            f"{stage}.gemm_peak_gflops": peak, f"{stage}.roofline": achieved / peak})


def train_stage(model: keras.Model, split, train: TrainConfig, *, stage: str, unlabeled: bool = True,
                with_indices: bool = False, augment_in_stream: bool = True, epoch_over: str | None = None,
                validate: bool = True, callbacks=None, evaluation: Evaluation | None = None,
                curve_of: tuple | None = None) -> dict:
    """Compile ``model``, build its stream (:func:`training_batches`) and fit it; returns the
    per-epoch history. The common body of every training node. ``evaluation``: the checked
    ``evaluation:`` section, for its learning curve (:func:`test_curve`) of ``model`` on ``split``,
    or of ``curve_of = (model, split)`` (M1's classifier trains on latents: its curve runs M1 on
    the test images)."""
    compile_model(model, train)
    stream, steps = training_batches(split, train, unlabeled=unlabeled, with_indices=with_indices,
                                     augment_in_stream=augment_in_stream, epoch_over=epoch_over)
    logger.info("%s: %d epochs x %d steps", stage, train.epochs, steps)
    return fit_stage(model, train, stream, steps, stage=stage, validation=validation_batches(split) if validate else None,
                     callbacks=callbacks, curve=test_curve(*(curve_of or (model, split)), evaluation, stage),
                     images_per_step=images_per_step(train, unlabeled))
