"""``.keras`` model files for the Kedro catalog, written atomically, with their input contract.

The model is saved to a temporary file beside the target and renamed over it only once the save
succeeded, so an interrupted or failing save never replaces a good model with a half-written one.

Every saved file also carries a *model card*, ``ssl_pipelines_card.json`` inside the ``.keras``
zip (Keras ignores it when loading): what the model expects and returns, so that a model found in
MLflow can be used without the project. Read it with :func:`read_model_card`::

    {"input": {"shape": [null, 8, 8, 1], "dtype": "float32", "normalization": "unit",
               "mean": [0.0], "std": [1.0], ...},
     "output": {"kind": "logits", "shape": [null, 10], ...}, "classes": ["0", ..., "9"],
     "pipeline": "supervised", "dataset": "digits", ...}

In a Kedro run, ``ssl_pipelines.run_summary.RunSummaryHooks`` attaches the data side (shape,
normalization with its per-channel training ``mean``/``std``: the model's input is
``(x_unit - mean) / std``, class names) with :func:`attach_model_card` before the catalog saves the model.
"""

from __future__ import annotations

import json
import os
import weakref
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import keras
from kedro.io.core import AbstractDataset, DatasetError


CARD_NAME = "ssl_pipelines_card.json"
NORMALIZATION_HELP = {
    "unit": "pixel values scaled to [0, 1] (8-bit images: value / 255; sklearn digits: value / 16)",
    "center": "unit scaling, then the per-channel mean of the training images subtracted (input.mean)",
    "standardize": "unit scaling, then (x - input.mean) / input.std, per channel, training statistics",
}
OUTPUT_HELP = ("class logits (unnormalized scores), one row per image; probabilities = "
               "keras.ops.softmax(logits), predicted class = argmax")
_CARDS: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def attach_model_card(model: keras.Model, card: dict[str, Any]) -> None:
    """Remember ``card`` (merged into :func:`model_card`) for the next save of ``model``."""
    _CARDS[model] = dict(card)


def _shape(tensor_or_shape) -> list | None:
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    try:
        return [None if d is None else int(d) for d in shape]
    except TypeError:
        return None


def model_card(model: keras.Model) -> dict[str, Any]:
    """The card saved with ``model``: the attached data side (:func:`attach_model_card`) over
    what the model itself tells (class, Keras version, input/output shapes when known)."""
    import ssl_pipelines

    attached = dict(_CARDS.get(model, {}))
    card: dict[str, Any] = {"format": "ssl_pipelines model card 1", "model_class": type(model).__name__,
                            "keras_version": keras.__version__, "ssl_pipelines_version": ssl_pipelines.__version__}
    inputs = {"dtype": "float32", "layout": "channels last (batch, height, width, channels)"}
    try:
        inputs["shape"] = _shape(model.inputs[0]) if getattr(model, "inputs", None) else None
    except (AttributeError, ValueError):
        inputs["shape"] = None
    inputs.update(attached.pop("input", {}))
    if inputs.get("normalization") in NORMALIZATION_HELP:
        inputs["normalization_help"] = NORMALIZATION_HELP[inputs["normalization"]]
    output = {"kind": "logits", "help": OUTPUT_HELP}
    output.update(attached.pop("output", {}))
    card.update({"input": inputs, "output": output, **attached})
    return card


def read_model_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of a ``.keras`` file saved by :class:`KerasModelDataset` (``{}`` if none)."""
    with zipfile.ZipFile(path) as archive:
        if CARD_NAME not in archive.namelist():
            return {}
        return json.loads(archive.read(CARD_NAME))


class KerasModelDataset(AbstractDataset[keras.Model, keras.Model]):
    """Save/load a Keras 3 model as a ``.keras`` file (with its model card, see the module).

    Args:
        filepath: local path ending in ``.keras``.
        load_args: keyword arguments of ``keras.models.load_model`` (e.g. ``compile: false``).
    """

    def __init__(self, *, filepath: str, load_args: dict[str, Any] | None = None, metadata=None):
        if not str(filepath).endswith(".keras"):
            raise DatasetError(f"KerasModelDataset filepath must end with '.keras', got {filepath!r}")
        self._filepath = PurePosixPath(filepath)
        self._load_args = dict(load_args or {})
        self.metadata = metadata

    def _load(self) -> keras.Model:
        import ssl_pipelines.layers  # noqa: F401  (registers custom objects)
        import ssl_pipelines.methods  # noqa: F401

        return keras.models.load_model(str(self._filepath), **self._load_args)

    def _save(self, model: keras.Model) -> None:
        path = Path(str(self._filepath))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")  # never another process's
        try:
            model.save(str(tmp))
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(CARD_NAME, json.dumps(model_card(model), indent=2))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def _exists(self) -> bool:
        return Path(str(self._filepath)).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args}
