"""Preprocessing applied to a whole :class:`Dataset` before splitting: resizing, channel
conversion and normalization. All statistics come from the training images only."""

from __future__ import annotations

import numpy as np

from ssl_pipelines.data.errors import DataError
from ssl_pipelines.data.sources import Dataset

NORMALIZATIONS = ("unit", "standardize", "center")


def resize_images(x: np.ndarray, size: tuple[int, int] | list[int], batch: int = 2048) -> np.ndarray:
    """Bilinear resize of ``(N, H, W, C)`` images to ``size = (H', W')`` (TensorFlow, in batches)."""
    import tensorflow as tf

    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise DataError(f"resize must be [height, width] of positive integers, got {size!r}")
    if x.shape[1:3] == size:
        return x
    out = [tf.image.resize(x[i : i + batch], size, method="bilinear").numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32)


def preprocess_dataset(
    ds: Dataset,
    *,
    resize: list[int] | None = None,
    channels: int | None = None,
    normalization: str = "unit",
) -> tuple[Dataset, dict]:
    """Resize, convert channels and normalize a data set.

    Args:
        resize: ``[H, W]`` to resize every image to, or None.
        channels: 1 or 3 to convert grayscale <-> RGB, or None to keep.
        normalization: ``unit`` keeps pixels in [0, 1] (needed by Bernoulli likelihoods),
            ``center`` subtracts the per-channel training mean, ``standardize`` also divides by
            the per-channel training std.

    Returns:
        The new data set and ``{"normalization": ..., "mean": [...], "std": [...]}`` (identity
        values for ``unit``); the new data set also carries that dict as ``normalization``.
    """
    if normalization not in NORMALIZATIONS:
        raise DataError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    xs = {"x_train": ds.x_train, "x_test": ds.x_test, "x_extra": ds.x_extra}
    if ds.x_train.ndim == 4:
        if resize is not None:
            xs = {k: None if v is None else resize_images(v, resize) for k, v in xs.items()}
        if channels is not None:
            if channels not in (1, 3):
                raise DataError(f"channels must be 1 or 3, got {channels!r}")
            have = xs["x_train"].shape[-1]
            if have == 1 and channels == 3:
                xs = {k: None if v is None else np.repeat(v, 3, axis=-1) for k, v in xs.items()}
            elif have == 3 and channels == 1:
                w = np.asarray([0.299, 0.587, 0.114], np.float32)
                xs = {k: None if v is None else (v @ w)[..., None].astype(np.float32) for k, v in xs.items()}
    axes = tuple(range(ds.x_train.ndim - 1))
    mean = np.zeros(xs["x_train"].shape[-1], np.float32)
    std = np.ones_like(mean)
    if normalization in ("center", "standardize"):
        mean = xs["x_train"].mean(axis=axes).astype(np.float32)
    if normalization == "standardize":
        std = np.maximum(xs["x_train"].std(axis=axes), 1e-6).astype(np.float32)
    if normalization != "unit":
        xs = {k: None if v is None else ((v - mean) / std).astype(np.float32) for k, v in xs.items()}
    stats = {"normalization": normalization, "mean": mean.tolist(), "std": std.tolist()}
    out = Dataset(xs["x_train"], ds.y_train, xs["x_test"], ds.y_test, ds.num_classes, ds.name,
                  ds.class_names, xs["x_extra"], normalization=stats)
    return out, dict(stats)
