"""One way for nodes to read a split, whether it holds arrays (:class:`SSLSplit`) or file paths
streamed from disk (:class:`~ssl_pipelines.data.image_files.FileSplit`).

Parts are named ``labeled``, ``unlabeled``, ``validation`` and ``test``. For an in-memory split
every function here is the array path the nodes used before (same streams, same batches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.data.image_files import FileSplit, file_eval_stream, file_full_image_stream, file_ssl_stream
from ssl_pipelines.data.split import SSLSplit
from ssl_pipelines.data.streams import eval_stream, ssl_stream

PARTS = {"labeled": ("x_labeled", "files_labeled", "y_labeled"),
         "unlabeled": ("x_unlabeled", "files_unlabeled", "y_unlabeled"),
         "validation": ("x_val", "files_val", "y_val"),
         "test": ("x_test", "files_test", "y_test")}


def is_streaming(split) -> bool:
    """True for a split of file paths decoded on the fly."""
    return isinstance(split, FileSplit)


def _inputs(split, part: str):
    if part not in PARTS:
        raise ConfigError(f"split part must be one of {list(PARTS)}, got {part!r}")
    arrays, files, _ = PARTS[part]
    return getattr(split, files if is_streaming(split) else arrays)


def part_size(split: SSLSplit | FileSplit, part: str) -> int:
    """Number of examples in ``part``."""
    return int(len(_inputs(split, part)))


def part_labels(split: SSLSplit | FileSplit, part: str) -> np.ndarray:
    """Labels of ``part`` (for ``unlabeled``: the hidden true labels, diagnostics only)."""
    _inputs(split, part)
    return np.asarray(getattr(split, PARTS[part][2]))


def training_stream(split: SSLSplit | FileSplit, *, batch_labeled: int, batch_unlabeled: int = 0, seed: int = 0,
                    augment: dict | None = None, with_indices: bool = False,
                    batch_names: tuple[str, str] = ("batch_labeled", "batch_unlabeled")) -> tf.data.Dataset:
    """Endless SSL batch dicts: :func:`ssl_stream` on arrays, :func:`file_ssl_stream` (random
    crops) on files. ``batch_unlabeled=0`` gives a labeled-only stream. A batch larger than its
    part is a ``ConfigError`` naming ``batch_names``."""
    if is_streaming(split):
        return file_ssl_stream(split, batch_labeled=batch_labeled, batch_unlabeled=batch_unlabeled, seed=seed,
                               augment=augment, with_indices=with_indices, batch_names=batch_names)
    return ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled if batch_unlabeled else None,
                      batch_labeled=batch_labeled, batch_unlabeled=batch_unlabeled, seed=seed,
                      augment=augment, with_indices=with_indices, batch_names=batch_names)


def evaluation_stream(split: SSLSplit | FileSplit, part: str, batch_size: int = 256,
                      with_labels: bool = True) -> tf.data.Dataset:
    """Finite, ordered ``(x, y)`` (or ``x``) batches of ``part``; files are centre-cropped
    (single-crop evaluation, METHODS.md §3.4)."""
    x = _inputs(split, part)
    y = part_labels(split, part) if with_labels else None
    if is_streaming(split):
        return file_eval_stream(x, y, image_size=split.image_size, shorter_side=split.shorter_side,
                                channels=split.channels, batch_size=batch_size)
    return eval_stream(x, y, batch_size=batch_size)


def full_image_batches(split: SSLSplit | FileSplit, part: str, batch_size: int = 256) -> tf.data.Dataset:
    """Ordered batches of whole images (no crop) for dense evaluation: the arrays as they are,
    or each file decoded at its own size (one image per batch)."""
    if is_streaming(split):
        return file_full_image_stream(_inputs(split, part), channels=split.channels)
    return eval_stream(_inputs(split, part), batch_size=batch_size)


def first_images(split: SSLSplit | FileSplit, part: str, n: int) -> np.ndarray:
    """The first ``n`` images of ``part`` as a float32 array (files: centre crops)."""
    if not is_streaming(split):
        return np.asarray(_inputs(split, part)[:n], np.float32)
    batches = [b.numpy() for b in evaluation_stream(split, part, batch_size=max(int(n), 1), with_labels=False).take(1)]
    return batches[0][:n] if batches else np.zeros((0, *split.input_shape), np.float32)


def map_part(fn: Callable, split: SSLSplit | FileSplit, part: str, batch_size: int = 256) -> np.ndarray:
    """``fn`` applied to the images of ``part`` in order, batch by batch (eval-mode inference of
    anything: encoder means, logits, reconstructions), concatenated as a numpy array."""
    outs = [np.asarray(fn(xb)) for xb in evaluation_stream(split, part, batch_size, with_labels=False)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def images_at(split: SSLSplit | FileSplit, part: str, index: np.ndarray) -> np.ndarray:
    """The images of ``part`` at rows ``index`` (files: centre crops), as float32."""
    index = np.asarray(index, np.int64)
    if not is_streaming(split):
        return np.asarray(_inputs(split, part)[index], np.float32)
    files = np.asarray(_inputs(split, part))[index]
    stream = file_eval_stream(files, image_size=split.image_size, shorter_side=split.shorter_side,
                              channels=split.channels, batch_size=256)
    out = [b.numpy() for b in stream]
    return np.concatenate(out) if out else np.zeros((0, *split.input_shape), np.float32)


def relabeled(split: SSLSplit | FileSplit, labeled: list[tuple[str, np.ndarray | None]]):
    """A copy of ``split`` whose labeled part is the given parts in order, each with the given
    labels (``None``: the part's own labels; e.g. zeros for label-free training, pseudo-labels
    for R2-D2's stage 3). The unlabeled part of the copy is empty."""
    inputs = [np.asarray(_inputs(split, part)) for part, _ in labeled]
    labels = [np.asarray(part_labels(split, part) if y is None else y, np.int32) for part, y in labeled]
    for (part, _), x, y in zip(labeled, inputs, labels):
        if len(x) != len(y):
            raise ConfigError(f"{len(y)} labels given for the {len(x)} images of part {part!r}")
    x, y = np.concatenate(inputs), np.concatenate(labels)
    empty = x[:0]
    if is_streaming(split):
        return dataclasses.replace(split, files_labeled=x, y_labeled=y, files_unlabeled=empty,
                                   y_unlabeled=y[:0])
    return dataclasses.replace(split, x_labeled=x, y_labeled=y, x_unlabeled=empty, y_unlabeled=y[:0])


def feature_split(split: SSLSplit | FileSplit, encode: Callable, batch_size: int = 256) -> SSLSplit:
    """An in-memory split of ``encode(x)`` features of the labeled and validation images (e.g.
    M1's latent means), for training a classifier on them; unlabeled and test parts are empty."""
    x_l = map_part(encode, split, "labeled", batch_size)
    x_v = map_part(encode, split, "validation", batch_size) if part_size(split, "validation") else x_l[:0]
    y_v = part_labels(split, "validation")
    return SSLSplit(x_labeled=x_l, y_labeled=np.asarray(split.y_labeled), x_unlabeled=x_l[:0],
                    y_unlabeled=np.zeros(0, np.int32), x_val=x_v.reshape((-1, *x_l.shape[1:])), y_val=y_v,
                    x_test=x_l[:0], y_test=np.zeros(0, np.int32), num_classes=split.num_classes, indices={},
                    dataset_name=split.dataset_name, class_names=split.class_names)


def test_subset(split: SSLSplit | FileSplit, size: int | None, seed: int = 0) -> SSLSplit | FileSplit:
    """``split`` with its test part cut to ``size`` images, a seeded draw without replacement kept in
    the original order (``None`` or ``size`` >= the test set: ``split`` itself). Every other part is
    unchanged (shared, not copied)."""
    n = part_size(split, "test")
    if size is None or size >= n:
        return split
    index = np.sort(np.random.default_rng(seed).choice(n, size=int(size), replace=False))
    arrays, files, labels = PARTS["test"]
    inputs = files if is_streaming(split) else arrays
    return dataclasses.replace(split, **{inputs: getattr(split, inputs)[index], labels: getattr(split, labels)[index]})
