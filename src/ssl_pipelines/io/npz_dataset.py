"""A dict of numpy arrays as an ``.npz`` file (split indices, pseudo-label tables)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset


class NpzDataset(AbstractDataset[dict, dict]):
    """Save ``{name: array}`` with ``np.savez`` (atomic rename) and load it back as a dict."""

    def __init__(self, *, filepath: str, metadata=None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _load(self) -> dict[str, np.ndarray]:
        with np.load(str(self._filepath), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def _save(self, data: dict[str, Any]) -> None:
        path = Path(str(self._filepath))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.partial.npz")
        np.savez(tmp, **{k: np.asarray(v) for k, v in data.items()})
        os.replace(tmp, path)

    def _exists(self) -> bool:
        return Path(str(self._filepath)).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
