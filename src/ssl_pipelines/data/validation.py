"""Checks that run before training: every problem is reported with the bad value and what was
expected, so a run never starts on data it cannot use."""

from __future__ import annotations

import numpy as np

from ssl_pipelines.data.errors import DataError


def validate_arrays(x: np.ndarray, y: np.ndarray | None, num_classes: int, what: str = "data") -> None:
    """Validate one image array and (optionally) its labels.

    Raises:
        DataError: empty data, x/y length mismatch, non-finite pixels, labels outside
            ``[0, num_classes)``, non-integer labels, images not shaped ``(N, H, W, C)``
            or ``(N, L, C)``.
    """
    x = np.asarray(x)
    if x.size == 0 or len(x) == 0:
        raise DataError(f"{what}: no examples (x has shape {x.shape}); expected at least one")
    if x.ndim not in (3, 4):
        raise DataError(f"{what}: x must be (N, H, W, C) images or (N, L, C) signals, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{what}: x must be float, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)).all(axis=1)).ravel()
        raise DataError(f"{what}: {len(bad)} example(s) hold NaN/inf pixels, first at index {int(bad[0])}")
    if y is None:
        return
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{what}: y must be a 1-D array of class indices, got shape {y.shape}")
    if len(y) != len(x):
        raise DataError(f"{what}: x has {len(x)} examples but y has {len(y)} labels; expected equal lengths")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            pass
        else:
            raise DataError(f"{what}: labels must be integers, got dtype {y.dtype} (first {y[:5].tolist()})")
    if num_classes < 2:
        raise DataError(f"{what}: num_classes must be >= 2, got {num_classes}")
    out = (y < 0) | (y >= num_classes)
    if np.any(out):
        bad = y[out]
        raise DataError(
            f"{what}: {int(out.sum())} label(s) outside [0, {num_classes}), e.g. {bad[:5].tolist()} "
            f"at index {int(np.flatnonzero(out)[0])}"
        )


def validate_dataset(ds) -> None:
    """Validate a loaded :class:`~ssl_pipelines.data.sources.Dataset` (train, test and extra)."""
    validate_arrays(ds.x_train, ds.y_train, ds.num_classes, f"{ds.name} train")
    validate_arrays(ds.x_test, ds.y_test, ds.num_classes, f"{ds.name} test")
    if ds.x_train.shape[1:] != ds.x_test.shape[1:]:
        raise DataError(
            f"{ds.name}: train images are {ds.x_train.shape[1:]} but test images are {ds.x_test.shape[1:]}"
        )
    if ds.x_extra is not None:
        validate_arrays(ds.x_extra, None, ds.num_classes, f"{ds.name} extra")
