"""``.keras`` model files for the Kedro catalog, written atomically.

The model is saved to a temporary file beside the target and renamed over it only once the save
succeeded, so an interrupted or failing save never replaces a good model with a half-written one.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import keras
from kedro.io.core import AbstractDataset, DatasetError


class KerasModelDataset(AbstractDataset[keras.Model, keras.Model]):
    """Save/load a Keras 3 model as a ``.keras`` file.

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
        tmp = path.with_name(f".{path.stem}.partial.keras")
        try:
            model.save(str(tmp))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def _exists(self) -> bool:
        return Path(str(self._filepath)).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args}
