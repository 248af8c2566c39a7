"""Training shared by the EMA-teacher pipelines (``mean_teacher``, ``hybridnet``): the same
stream (no augmentation in it: the models draw their two views), defaults and stage body."""

from __future__ import annotations

from collections.abc import Callable

import keras

from ssl_pipelines.params import Evaluation, TrainConfig, parse_train
from ssl_pipelines.params.ema_teacher import EMA_TRAIN_DEFAULTS
from ssl_pipelines.pipelines.common_training import (
    compile_model,
    fit_stage,
    images_per_step,
    start_stage,
    test_curve,
    training_batches,
    validation_batches,
)


def ema_train_config(train_params: dict | None, seed: int) -> TrainConfig:
    """The checked ``train:`` section (20 + 80 batches by default), seeded for the stage."""
    return start_stage(parse_train(train_params, seed, defaults=EMA_TRAIN_DEFAULTS)[0])


def augment_kwargs(train: TrainConfig) -> dict:
    """``train.augment`` as the models' arguments (two views drawn inside ``train_step``)."""
    return {"augment_shift": train.augment.max_shift, "augment_flip": train.augment.flip}


def train_ema_model(build: Callable[[int], keras.Model], split, train: TrainConfig, stage: str,
                    evaluation: Evaluation | None = None):
    """Build the model with ``build(steps_per_epoch)`` (ramp-ups are in epochs), compile, fit. A
    model none of whose terms reads the unlabeled images (``reads_unlabeled`` false: no stability
    term, no decoders) gets labeled batches only, with the steps per epoch of the full stream, their
    one view per image drawn by the stream (``train.augment``) as for the supervised baseline.
    Returns the model and its history. ``evaluation``: the checked ``evaluation:`` section, for
    its learning curve of the EMA teacher's test accuracy (``evaluation.curve_every``)."""
    stream, steps = training_batches(split, train, augment_in_stream=False)
    model = compile_model(build(steps), train)
    unlabeled = getattr(model, "reads_unlabeled", True)
    if not unlabeled:  # e.g. classification only: labeled batches, the same steps per epoch, augmented by
        # the stream (as the supervised baseline) instead of inside the step
        stream, _ = training_batches(split, train, unlabeled=False, augment_in_stream=True)
        model.augment_in_step = False
    return model, fit_stage(model, train, stream, steps, stage=stage, validation=validation_batches(split),
                            curve=test_curve(model, split, evaluation, stage),
                            images_per_step=images_per_step(train, unlabeled))
