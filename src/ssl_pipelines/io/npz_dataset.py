"""A dict of numpy arrays as an ``.npz`` file (split indices, pseudo-label tables)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError


class NpzDataset(AbstractDataset[dict, dict]):
    """Save ``{name: array}`` with ``np.savez`` (atomic rename) and load it back as a dict."""

    def __init__(self, *, filepath: str, metadata=None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _load(self) -> dict[str, np.ndarray]:
        import zipfile
        import zlib

        try:
            with np.load(str(self._filepath), allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DatasetError(f"{str(self._filepath)!r} is not a readable .npz file ({type(exc).__name__}: {exc}); "
                               f"delete it and run the pipeline that writes it again") from exc

    def _save(self, data: dict[str, Any]) -> None:
        path = Path(str(self._filepath))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.npz")  # never another process's
        np.savez(tmp, **{k: np.asarray(v) for k, v in data.items()})
        os.replace(tmp, path)

    def _exists(self) -> bool:
        return Path(str(self._filepath)).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
