"""Resumable training: the full training state of a stage, saved atomically every epoch.

A checkpoint holds every model variable (weights, batch-norm statistics, non-trainable state such
as an EMA teacher or R2-D2's pseudo-label table, and the layers' random-seed states), every
optimizer variable (step counter, moments), Keras' global seed state, the epoch counter and the
history so far. The state and its metadata (epoch, history, fingerprint) live in one file,
written to a temporary name and renamed, so a process killed while saving leaves either the
previous checkpoint or the new one, never a mix of the two. ``state.json`` beside it is a
readable copy of the metadata, written after; the copy inside ``state.npz`` is the one resumed from.

Every folder a checkpoint is written to holds a marker file (``MARKER_FILE``): cleanup deletes
only marked folders (:func:`remove_tree`), so a ``checkpoint_dir`` pointed at a folder holding
anything else (a trained model, data) never has that deleted. Temporary names carry the process
id, so two processes never write to the same temporary file. A checkpoint file that cannot be
read (truncated, garbage) is ignored with a warning and the stage starts from scratch.

Callbacks that record something per epoch (e.g. R2-D2's pseudo-label curves) can keep it across a
resume: a callback with ``checkpoint_state()`` (JSON-serializable) and
``restore_checkpoint_state(state)`` has its state saved with every checkpoint and handed back when
the stage resumes or is restored as completed, so a restored stage reports what it logged.

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
import zipfile
import zlib
from pathlib import Path
from typing import Any

import keras
import numpy as np

logger = logging.getLogger(__name__)

STATE_FILE = "state.npz"
META_FILE = "state.json"
MARKER_FILE = ".ssl_pipelines_checkpoint"  # in every folder this module writes a checkpoint to
_META_KEY = "meta"  # inside STATE_FILE; variable keys are v00000, v00001, ...
# what a truncated or garbage .npz raises from np.load or from reading one of its members
UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, json.JSONDecodeError)


def _tmp_name(name: str) -> str:
    """A temporary file name of this process (``.<name>.<pid>.partial<suffix>``)."""
    stem, dot, suffix = name.partition(".")
    return f".{stem}.{os.getpid()}.partial{dot}{suffix}"


def mark(directory) -> Path:
    """Create ``directory`` and mark it as a checkpoint folder written by this module (unless it
    already holds files of someone else's: then it stays unmarked and only this module's own files
    in it are ever deleted)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER_FILE
    if not marker.exists() and all(e.name in (STATE_FILE, META_FILE) or ".partial" in e.name
                                   for e in directory.iterdir()):
        marker.write_text("checkpoint folder written by ssl_pipelines; deleted when the run succeeds\n")
    return directory


def is_marked(directory) -> bool:
    return (Path(directory) / MARKER_FILE).is_file()


def global_seed_state():
    """The state variable of Keras' global seed generator (created on first use). Under several
    workers creating a variable is a collective, so every worker must call this at the same
    points: at train begin (:class:`TrainingCheckpoint`) and before a restore
    (:func:`ssl_pipelines.training.fit._build_for_restore`), where the chief alone would
    otherwise create it while reading the checkpoint and the workers' collectives would mismatch."""
    from keras.src.random.seed_generator import global_seed_generator

    return global_seed_generator().state


def training_variables(model: keras.Model) -> list:
    """Every variable whose value a resumed run needs, in a stable order."""
    variables = list(model.variables)
    if getattr(model, "optimizer", None) is not None and model.optimizer.built:
        variables += list(model.optimizer.variables)
    return variables + [global_seed_state()]


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
        write: save the state (False: only extend the history, as a non-chief worker does).
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: str, history: dict | None = None,
                 stateful: dict | None = None, write: bool = True):
        super().__init__()
        self.write = bool(write)  # False on a non-chief worker: it keeps the history, writes nothing
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.stateful = dict(stateful or {})  # {key: callback with checkpoint_state()}

    def on_train_begin(self, logs=None):
        # every worker creates Keras' global seed generator here, not only the chief when saving
        global_seed_state()

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            try:
                self.history.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                pass
        if not self.write:
            return
        save_state(self.model, self.directory, epoch=epoch + 1, history=self.history,
                   fingerprint=self.fingerprint, complete=False, callbacks=self.callback_states())

    def callback_states(self) -> dict:
        return {key: cb.checkpoint_state() for key, cb in self.stateful.items()}


def stateful_callbacks(callbacks) -> dict:
    """The callbacks whose per-epoch records travel with the checkpoint, keyed by class and position."""
    return {f"{i}:{type(cb).__name__}": cb for i, cb in enumerate(callbacks or [])
            if callable(getattr(cb, "checkpoint_state", None))
            and callable(getattr(cb, "restore_checkpoint_state", None))}


def restore_callbacks(stateful: dict, meta: dict) -> None:
    """Hand every stateful callback the state saved with the checkpoint (missing: left as it is)."""
    saved = meta.get("callbacks") or {}
    for key, cb in stateful.items():
        if key in saved:
            cb.restore_checkpoint_state(saved[key])


def save_state(model, directory, *, epoch: int, history: dict, fingerprint: str, complete: bool,
               callbacks: dict | None = None) -> None:
    directory = mark(directory)
    values = {f"v{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(training_variables(model))}
    meta = {"epoch": int(epoch), "history": history, "fingerprint": fingerprint, "complete": bool(complete),
            "num_variables": len(values), "callbacks": callbacks or {}}
    tmp_state = directory / _tmp_name(STATE_FILE)
    np.savez(tmp_state, **values, **{_META_KEY: np.array(json.dumps(meta))})
    # The metadata travel inside the state file, so one rename publishes the state and the metadata
    # describing it together (with two files renamed one after the other, a kill between the renames
    # would leave epoch k+1's weights under epoch k's metadata, and the resumed run would train epoch
    # k+1 twice). state.json, written after it, is a readable copy; read_meta uses it only for a
    # checkpoint whose state file has no metadata.
    os.replace(tmp_state, directory / STATE_FILE)
    tmp_meta = directory / _tmp_name(META_FILE)
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, directory / META_FILE)


def read_meta(directory) -> dict | None:
    """The metadata of the checkpoint in ``directory`` (None if there is none or it is unreadable)."""
    state = Path(directory) / STATE_FILE
    if not state.exists():
        return None
    try:
        with np.load(state, allow_pickle=False) as f:
            if _META_KEY in f.files:
                meta = json.loads(str(f[_META_KEY]))
                if not isinstance(meta, dict):
                    raise ValueError(f"metadata is a {type(meta).__name__}, expected a JSON object")
                return meta
    except UNREADABLE as exc:
        logger.warning("checkpoint %s is unreadable (%s: %s); ignoring it, the stage starts from scratch",
                       state, type(exc).__name__, exc)
        return None
    try:  # a checkpoint written before the metadata moved into state.npz
        return json.loads((Path(directory) / META_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def restore_state(model, directory) -> bool:
    """Assign the saved values to the model's (already created) variables. False on mismatch."""
    variables = training_variables(model)
    try:
        with np.load(Path(directory) / STATE_FILE, allow_pickle=False) as f:
            keys = sorted(k for k in f.files if k != _META_KEY)
            if len(keys) != len(variables):
                logger.warning("checkpoint in %s holds %d variables but the model has %d; not resuming",
                               directory, len(keys), len(variables))
                return False
            values = [f[k] for k in keys]
    except UNREADABLE as exc:
        logger.warning("checkpoint in %s is unreadable (%s: %s); not resuming", directory, type(exc).__name__, exc)
        return False
    for v, value in zip(variables, values):
        if tuple(v.shape) != tuple(value.shape):
            logger.warning("checkpoint variable shape %s != model variable %s (%s); not resuming",
                           value.shape, tuple(v.shape), v.path if hasattr(v, "path") else v.name)
            return False
    for v, value in zip(variables, values):
        v.assign(value)
    return True


def clear(directory) -> None:
    """Delete the checkpoint in ``directory``: the whole folder if this module marked it, else only
    the files this module writes (an unmarked folder may hold a user's files)."""
    directory = Path(directory)
    if is_marked(directory):
        shutil.rmtree(directory, ignore_errors=True)
        return
    for name in (STATE_FILE, META_FILE):
        (directory / name).unlink(missing_ok=True)


def foreign_entries(tree, own_files=frozenset()) -> list[Path]:
    """Files under ``tree`` that this module did not write: everything outside marked folders,
    except the names in ``own_files`` directly in ``tree`` (a pipeline's lock and run record)."""
    tree = Path(tree)
    if not tree.exists():
        return []
    if not tree.is_dir():
        return [tree]
    if is_marked(tree):
        return []
    found = []
    for entry in sorted(tree.iterdir()):
        if entry.name in own_files and entry.is_file():
            continue
        if entry.is_dir() and not entry.is_symlink():
            found += foreign_entries(entry)
        else:
            found.append(entry)
    return found


def remove_tree(tree, own_files=frozenset()) -> list[Path]:
    """Delete what this module wrote under ``tree`` (marked folders; the ``own_files`` directly in
    ``tree``) and the folders left empty; never anything else. Returns what was left in place."""
    tree = Path(tree)
    if not tree.is_dir() or tree.is_symlink():
        return [tree] if tree.exists() else []
    if is_marked(tree):
        shutil.rmtree(tree, ignore_errors=True)
        return []
    kept = []
    for entry in sorted(tree.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            kept += remove_tree(entry)
        elif entry.name in own_files and entry.is_file():
            entry.unlink(missing_ok=True)
        else:
            kept.append(entry)
    if not kept:
        try:
            tree.rmdir()
        except OSError:
            pass
    return kept
