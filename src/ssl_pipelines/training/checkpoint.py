"""Resumable training: the full training state of a stage, saved atomically every epoch.

A checkpoint holds every model variable (weights, batch-norm statistics, non-trainable state such
as an EMA teacher or R2-D2's pseudo-label table, and the layers' random-seed states), every
optimizer variable (step counter, moments), Keras' global seed state, the epoch counter and the
history so far. The state and its metadata (epoch, history, fingerprint) live in one file,
written to a temporary name and renamed, so a process killed while saving leaves either the
previous checkpoint or the new one, never a mix of the two. ``state.json`` beside it is a
readable copy of the metadata, written after; the copy inside ``state.npz`` is the one resumed from.

``fit_model(..., checkpoint_dir=d)`` restores from ``d`` and continues at the saved epoch, skipping
the batches the interrupted run already consumed so the data order is the same as in an
uninterrupted run. A stage that completed is marked done: calling it again restores the final
state and returns its history without training (that is how a multi-stage pipeline that was
interrupted in a later stage skips the stages it finished). A fingerprint of the model and stage
configuration guards against resuming a different experiment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

logger = logging.getLogger(__name__)

STATE_FILE = "state.npz"
META_FILE = "state.json"
_META_KEY = "meta"  # inside STATE_FILE; variable keys are v00000, v00001, ...


def _global_seed_state():
    from keras.src.random.seed_generator import global_seed_generator

    return global_seed_generator().state


def training_variables(model: keras.Model) -> list:
    """Every variable whose value a resumed run needs, in a stable order."""
    variables = list(model.variables)
    if getattr(model, "optimizer", None) is not None and model.optimizer.built:
        variables += list(model.optimizer.variables)
    return variables + [_global_seed_state()]


def _layer_signature(layer) -> dict:
    try:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "layers", "backbone")}
        config = json.loads(json.dumps(config, sort_keys=True, default=str))
    except Exception:  # layers without a serializable config
        config = {}
    config.pop("build_config", None)
    return {"class": type(layer).__name__, "config": config,
            "shapes": [list(v.shape) for v in getattr(layer, "weights", [])]}


def fingerprint(model: keras.Model, **stage: Any) -> str:
    """A short hash of the model's architecture (layer classes, configs without the auto-numbered
    names, weight shapes) and the stage's settings."""
    layers = [_layer_signature(layer) for layer in model._flatten_layers(include_self=True, recursive=True)]
    payload = json.dumps({"layers": layers, "stage": stage}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class TrainingCheckpoint(keras.callbacks.Callback):
    """Save the training state to ``directory`` at the end of every epoch (atomically).

    Args:
        directory: folder of this stage's checkpoint.
        fingerprint: identifies the experiment; a checkpoint with another one is not resumed.
        history: the history of epochs already done (when resuming), extended every epoch.
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: str, history: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            try:
                self.history.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                pass
        save_state(self.model, self.directory, epoch=epoch + 1, history=self.history,
                   fingerprint=self.fingerprint, complete=False)


def save_state(model, directory, *, epoch: int, history: dict, fingerprint: str, complete: bool) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    values = {f"v{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(training_variables(model))}
    meta = {"epoch": int(epoch), "history": history, "fingerprint": fingerprint, "complete": bool(complete),
            "num_variables": len(values)}
    tmp_state = directory / f".{STATE_FILE}.partial.npz"
    np.savez(tmp_state, **values, **{_META_KEY: np.array(json.dumps(meta))})
    # One rename publishes the state and the metadata describing it together. (They used to be two
    # files renamed one after the other: a kill between the renames left epoch k+1's weights and
    # optimizer step under epoch k's metadata, and the resumed run trained epoch k+1 twice.)
    os.replace(tmp_state, directory / STATE_FILE)
    tmp_meta = directory / f".{META_FILE}.partial"
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, directory / META_FILE)


def read_meta(directory) -> dict | None:
    """The metadata of the checkpoint in ``directory`` (None if there is none or it is unreadable)."""
    state = Path(directory) / STATE_FILE
    if not state.exists():
        return None
    try:
        with np.load(state) as f:
            if _META_KEY in f.files:
                return json.loads(str(f[_META_KEY]))
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    try:  # a checkpoint written before the metadata moved into state.npz
        return json.loads((Path(directory) / META_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def restore_state(model, directory) -> bool:
    """Assign the saved values to the model's (already created) variables. False on mismatch."""
    variables = training_variables(model)
    with np.load(Path(directory) / STATE_FILE) as f:
        keys = sorted(k for k in f.files if k != _META_KEY)
        if len(keys) != len(variables):
            logger.warning("checkpoint in %s holds %d variables but the model has %d; not resuming",
                           directory, len(keys), len(variables))
            return False
        values = [f[k] for k in keys]
    for v, value in zip(variables, values):
        if tuple(v.shape) != tuple(value.shape):
            logger.warning("checkpoint variable shape %s != model variable %s (%s); not resuming",
                           value.shape, tuple(v.shape), v.path if hasattr(v, "path") else v.name)
            return False
    for v, value in zip(variables, values):
        v.assign(value)
    return True


def clear(directory) -> None:
    shutil.rmtree(directory, ignore_errors=True)
