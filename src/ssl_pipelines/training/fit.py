"""``fit_model``: the one training loop every method node calls (progress bar, MLflow curves,
non-finite guard), returning the per-epoch history."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.training import checkpoint as ckpt
from ssl_pipelines.training import distribute
from ssl_pipelines.training.callbacks import MlflowMetricsLogger, StopOnNonFiniteLoss
from ssl_pipelines.training.progress import EpochLine, StageLine
from ssl_pipelines.training.runtime import checkpoint_root

logger = logging.getLogger(__name__)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _build_for_restore(model: keras.Model, train_data: tf.data.Dataset) -> None:
    """Create every variable (model, optimizer and Keras' global seed state) so a checkpoint can be
    assigned to them; every worker of a cluster calls it, in the same order."""
    from ssl_pipelines.data.streams import X_LABELED

    # a zero batch shaped like the stream's elements: iterating the stream here would advance its
    # shuffle seed and change the data order of the resumed run
    batch = tf.nest.map_structure(lambda spec: tf.zeros([d or 1 for d in spec.shape], spec.dtype),
                                  train_data.element_spec)
    if hasattr(model, "build_for_batch"):  # an SSLModel: builds everything its train step uses
        ssl_batch = model.as_batch(batch)
        model.build_for_batch(ssl_batch)
        if not model.built:  # its parts are; a stage restored as completed never calls the model
            model.build(tuple(ssl_batch[X_LABELED].shape))  # itself, and count_params needs it built
    else:
        model(batch[0] if isinstance(batch, (tuple, list)) else batch[X_LABELED])
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    ckpt.global_seed_state()  # on every worker: the chief's restore_state would create it alone


def fit_model(
    model: keras.Model,
    train_data: tf.data.Dataset,
    *,
    epochs: int,
    steps_per_epoch: int,
    validation_data: tf.data.Dataset | None = None,
    stage: str = "train",
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
    checkpoint_dir: str | None = None,
    resume_key: dict | None = None,
) -> dict[str, list[float]]:
    """Fit ``model`` and return ``history`` as plain lists of floats.

    Adds :class:`StopOnNonFiniteLoss` and :class:`MlflowMetricsLogger` (prefix ``stage``).

    With a checkpoint folder (``checkpoint_dir``, or ``<node checkpoint root>/<stage>`` inside a
    Kedro run) the training state is saved every epoch; a call that finds a checkpoint of the same
    experiment (model config, optimizer config, stage settings and ``resume_key``, e.g. the seed)
    resumes from it, and one that finds a completed stage restores it without training
    (see :mod:`ssl_pipelines.training.checkpoint`). ``train_data`` must be a deterministic
    endless stream (as :func:`ssl_pipelines.data.ssl_stream` is) for the resumed data order to
    equal the uninterrupted one.
    """
    check_positive_int(f"{stage}.epochs", epochs)
    check_positive_int(f"{stage}.steps_per_epoch", steps_per_epoch)
    root = checkpoint_root()
    directory = checkpoint_dir if checkpoint_dir is not None else (root / stage if root is not None else None)
    cbs = [StopOnNonFiniteLoss(stage), MlflowMetricsLogger(stage), *(callbacks or [])]
    stateful = ckpt.stateful_callbacks(callbacks)
    initial_epoch, history_so_far = 0, {}
    strategy = model.distribute_strategy  # the one the model was built under
    chief = distribute.is_chief(strategy)
    if directory is not None:
        optimizer_config = model.optimizer.get_config() if model.optimizer is not None else {}
        optimizer_config = {"class": type(model.optimizer).__name__,
                            **{k: v for k, v in optimizer_config.items() if k != "name"}}
        fp = ckpt.fingerprint(model, stage=stage, epochs=epochs, steps=steps_per_epoch,
                              optimizer=optimizer_config, key=resume_key)
        # several workers: the chief alone keeps the checkpoint; what it read and restored is
        # broadcast, so a restarted worker needs no files of its own (distribute.broadcast_*)
        meta = distribute.broadcast_json(ckpt.read_meta(directory) if chief else None, strategy)
        if meta is not None and meta.get("fingerprint") == fp:
            _build_for_restore(model, train_data)
            if distribute.broadcast_json(ckpt.restore_state(model, directory) if chief else False, strategy):
                distribute.broadcast_variables(ckpt.training_variables(model), strategy)
                ckpt.restore_callbacks(stateful, meta)
                log_restored_history(stage, meta["history"])
                if meta.get("complete"):
                    logger.info("%s: already completed (checkpoint %s); restored its final state", stage, directory)
                    return meta["history"]
                initial_epoch, history_so_far = int(meta["epoch"]), meta["history"]
                logger.info("%s: resuming from epoch %d of %d (checkpoint %s)", stage, initial_epoch, epochs, directory)
            elif chief:
                ckpt.clear(directory)
        elif meta is not None:
            logger.warning("%s: checkpoint in %s is from another configuration; starting over", stage, directory)
            if chief:
                ckpt.clear(directory)
        saver = ckpt.TrainingCheckpoint(directory, fp, history_so_far, stateful, write=chief)
        cbs.append(saver)
    stage_line = StageLine(stage, epochs, steps_per_epoch)
    stage_line.log_if_built(model)
    cbs.append(stage_line)
    if verbose == 2:  # one line per epoch instead of Keras' two
        cbs.append(EpochLine(epochs))
        verbose = 0
    data = train_data.skip(initial_epoch * steps_per_epoch) if initial_epoch else train_data
    data = distribute.per_replica_stream(data, strategy, name=stage)
    result = model.fit(
        data, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=validation_data,
        callbacks=cbs, verbose=verbose, initial_epoch=initial_epoch, shuffle=False,
    )
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    if directory is not None:
        history = saver.history
    if directory is not None and chief:
        ckpt.save_state(model, directory, epoch=epochs, history=history, fingerprint=fp, complete=True,
                        callbacks=saver.callback_states())
    return history


def log_restored_history(stage: str, history: dict) -> None:
    """Log the curves of the epochs a checkpoint restored to the active MLflow run, as
    :class:`MlflowMetricsLogger` logged them while they trained (``<stage>.<metric>``, step =
    epoch), skipping the steps the run already holds: a resumed command's run has every epoch's
    curve once. Does nothing without an active run."""
    try:
        import mlflow
    except ImportError:  # pragma: no cover
        return
    run = mlflow.active_run()
    if run is None or not history:
        return
    from mlflow.entities import Metric

    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    points = []
    for key, values in history.items():
        name = f"{stage}.{key}"
        logged = {m.step for m in client.get_metric_history(run.info.run_id, name)}
        for step, value in enumerate(values):
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if step not in logged and math.isfinite(value):
                points.append(Metric(name, value, now, step))
    for start in range(0, len(points), 1000):  # MLflow's batch limit
        client.log_batch(run.info.run_id, metrics=points[start:start + 1000])
