"""A streaming image-folder source: file paths + labels in memory, pixels decoded on the fly.

For data sets too large for the in-memory :class:`~ssl_pipelines.data.Dataset` (ImageNet
ILSVRC-2012: 1.28M images, METHODS.md §3.4). The folder holds ``<train_dir>/<class>/*`` and
``<test_dir>/<class>/*`` images (``.jpg|.jpeg|.png|.bmp``, any case: ImageNet's ``*.JPEG``; the
validation set sorted into class folders, as most ImageNet copies are). Classes are numbered in
sorted folder-name order and files are sorted by name, exactly as the in-memory
``image_folder`` loader does, so the same folder and seed give the same split indices.

* :func:`index_image_folder` -> :class:`FileDataset` (paths, labels, class names);
* :func:`split_file_dataset` -> :class:`FileSplit`: the seeded class-balanced draw of
  :func:`ssl_pipelines.data.split_indices` (METHODS.md §0) applied to the file lists;
* :func:`file_ssl_stream` / :func:`file_eval_stream`: ``tf.data`` pipelines that read, decode,
  resize the shorter side to ``shorter_side`` (256 in the paper) and crop ``image_size``
  (224x224): a random crop for training (+ the usual ``augment`` flips/shifts), the centre crop
  for single-crop evaluation. Training batches are the same dicts as
  :func:`ssl_pipelines.data.ssl_stream` (``x_labeled``, ``y_labeled``, ``x_unlabeled``, ...).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError, DataError
from ssl_pipelines.data.sources import IMAGE_SUFFIXES
from ssl_pipelines.data.split import split_indices
from ssl_pipelines.data.streams import _augmenter, _check_batch, _shuffled_indices, assemble_batch

#: test folder names tried, in order, when ``test_dir`` is not given
TEST_DIRS = ("test", "val", "validation")


@dataclasses.dataclass
class FileDataset:
    """Train/test image *files* and labels (the streaming counterpart of ``Dataset``).

    Attributes:
        train_files, test_files: ``(N,)`` arrays of file paths (str).
        y_train, y_test: ``(N,)`` int64 labels.
        num_classes, name, class_names: as in ``Dataset``.
        image_size: ``(H, W)`` crop fed to the network.
        shorter_side: images are resized so their shorter side is this before cropping.
        channels: decoded channels (3 = RGB, 1 = grey).
    """

    train_files: np.ndarray
    y_train: np.ndarray
    test_files: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    class_names: list[str]
    image_size: tuple[int, int]
    shorter_side: int
    channels: int = 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.image_size, self.channels)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "train": int(len(self.train_files)), "test": int(len(self.test_files)),
                "extra": 0, "input_shape": list(self.input_shape), "num_classes": int(self.num_classes),
                "shorter_side": int(self.shorter_side), "streaming": True}


@dataclasses.dataclass
class FileSplit:
    """One semi-supervised split of a :class:`FileDataset` (file paths; see ``SSLSplit``)."""

    files_labeled: np.ndarray
    y_labeled: np.ndarray
    files_unlabeled: np.ndarray
    y_unlabeled: np.ndarray
    files_val: np.ndarray
    y_val: np.ndarray
    files_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    indices: dict[str, np.ndarray]
    image_size: tuple[int, int]
    shorter_side: int
    channels: int = 3
    dataset_name: str = ""
    class_names: list[str] | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.image_size, self.channels)

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset_name, "labeled": int(len(self.files_labeled)),
            "unlabeled": int(len(self.files_unlabeled)), "validation": int(len(self.files_val)),
            "test": int(len(self.files_test)), "input_shape": list(self.input_shape),
            "num_classes": int(self.num_classes), "shorter_side": int(self.shorter_side), "streaming": True,
            "labeled_per_class": np.bincount(self.y_labeled, minlength=self.num_classes).tolist(),
        }


# === Index ===
def _class_files(root: Path) -> dict[str, list[str]]:
    out = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir():
            out[entry.name] = sorted(
                os.path.join(entry.path, f.name) for f in os.scandir(entry.path)
                if f.is_file() and os.path.splitext(f.name)[1].lower() in IMAGE_SUFFIXES)
    return out


def check_crop(image_size: Sequence[int], shorter_side: int) -> tuple[tuple[int, int], int]:
    """Validate the crop ``(H, W)`` and the shorter side it is cut from (ConfigError otherwise)."""
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in image_size)):
        raise ConfigError(f"streaming crop size data.resize must be [H, W] positive integers, got {image_size!r}")
    if isinstance(shorter_side, bool) or not isinstance(shorter_side, (int, np.integer)) \
            or shorter_side < max(image_size):
        raise ConfigError(f"data.shorter_side must be an integer >= the crop size {list(image_size)}, "
                          f"got {shorter_side!r}")
    return (int(image_size[0]), int(image_size[1])), int(shorter_side)


def index_image_folder(
    path: str | os.PathLike,
    *,
    image_size: Sequence[int] = (224, 224),
    shorter_side: int = 256,
    channels: int = 3,
    train_dir: str = "train",
    test_dir: str | None = None,
) -> FileDataset:
    """List ``<path>/<train_dir>/<class>/*`` and ``<path>/<test_dir>/<class>/*`` (no decoding).

    Args:
        path: the data set folder.
        image_size: ``(H, W)`` crop fed to the network (224x224 in the paper).
        shorter_side: resize target of the shorter image side before cropping (256 in the paper).
        channels: 3 (RGB) or 1 (grey); images are converted on decoding.
        train_dir: training sub-folder.
        test_dir: evaluation sub-folder (default: the first of ``test``, ``val``, ``validation``).

    Raises:
        DataError: the path, a sub-folder or the images are missing (the message names the path).
    """
    image_size, shorter_side = check_crop(image_size, shorter_side)
    if channels not in (1, 3):
        raise ConfigError(f"streaming images are decoded to 1 or 3 channels, got channels={channels!r}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"streaming image folder: path {str(root)!r} does not exist or is not a folder "
                        f"(expected {train_dir}/<class>/*.JPEG and val/<class>/*.JPEG inside)")
    if test_dir is None:
        test_dir = next((d for d in TEST_DIRS if (root / d).is_dir()), TEST_DIRS[0])
    parts = {}
    for split, sub in (("train", train_dir), ("test", test_dir)):
        folder = root / sub
        if not folder.is_dir():
            raise DataError(f"streaming image folder {str(root)!r} has no {sub!r} sub-folder "
                            f"(found {sorted(p.name for p in root.iterdir() if p.is_dir())})")
        parts[split] = _class_files(folder)
    class_names = sorted(set(parts["train"]) | set(parts["test"]))
    index = {name: i for i, name in enumerate(class_names)}

    def flat(split):
        files = [(f, index[c]) for c in sorted(parts[split]) for f in parts[split][c]]
        if not files:
            raise DataError(f"streaming image folder {str(root / (train_dir if split == 'train' else test_dir))!r} "
                            f"holds no images ({', '.join(IMAGE_SUFFIXES)}) in class sub-folders")
        return np.array([f for f, _ in files]), np.array([y for _, y in files], np.int64)

    train_files, y_train = flat("train")
    test_files, y_test = flat("test")
    return FileDataset(train_files, y_train, test_files, y_test, num_classes=len(class_names),
                       name=f"image_folder:{root.name}", class_names=class_names, image_size=image_size,
                       shorter_side=shorter_side, channels=int(channels))


def split_file_dataset(ds: FileDataset, *, seed: int = 0, **split_kwargs) -> FileSplit:
    """The seeded class-balanced split of :func:`ssl_pipelines.data.split_indices` on file lists
    (same labels + same seed = the same indices as the in-memory split)."""
    idx = split_indices(ds.y_train, ds.num_classes, seed=seed, **split_kwargs)
    take = lambda key: (ds.train_files[idx[key]], ds.y_train[idx[key]])  # noqa: E731
    (fl, yl), (fu, yu), (fv, yv) = take("labeled"), take("unlabeled"), take("validation")
    return FileSplit(fl, yl, fu, yu, fv, yv, ds.test_files, ds.y_test, num_classes=ds.num_classes,
                     indices={**idx, "seed": np.asarray(seed, np.int64)}, image_size=ds.image_size,
                     shorter_side=ds.shorter_side, channels=ds.channels, dataset_name=ds.name,
                     class_names=ds.class_names)


# === Decoding ===
def read_image(path: tf.Tensor, channels: int = 3) -> tf.Tensor:
    """Read and decode one JPEG / PNG / BMP / GIF file to ``(H, W, channels)`` float32 in [0, 1]."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    return tf.image.convert_image_dtype(image, tf.float32)


def resize_shorter_side(images: tf.Tensor, size: int) -> tf.Tensor:
    """Resize ``(H, W, C)`` or ``(B, H, W, C)`` images so the shorter side is ``size`` (aspect
    kept, bilinear with antialiasing; the other side is rounded and at least ``size``)."""
    shape = tf.shape(images)
    h, w = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
    scale = float(size) / tf.minimum(h, w)
    new_h = tf.maximum(tf.cast(tf.round(h * scale), tf.int32), size)
    new_w = tf.maximum(tf.cast(tf.round(w * scale), tf.int32), size)
    return tf.image.resize(images, tf.stack([new_h, new_w]), method="bilinear", antialias=True)


def center_crop(image: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """The central ``size = (H, W)`` window of an ``(H', W', C)`` image with ``H' >= H, W' >= W``."""
    shape = tf.shape(image)
    top, left = (shape[0] - size[0]) // 2, (shape[1] - size[1]) // 2
    return image[top:top + size[0], left:left + size[1]]


def _load(path, *, image_size, shorter_side, channels, crop_seed=None):
    image = resize_shorter_side(read_image(path, channels), shorter_side)
    if crop_seed is None:
        image = center_crop(image, image_size)
    else:
        image = tf.image.stateless_random_crop(image, (*image_size, channels), seed=crop_seed)
    return tf.ensure_shape(image, (*image_size, channels))


def _endless_images(files, labels, batch, seed, load):
    """Batches of ``(images, labels, indices)``: the stateless permutation of
    :func:`~ssl_pipelines.data.streams._shuffled_indices`, element ``i`` cropped with seed
    ``(seed, i)`` (deterministic, resumable)."""
    n = len(files)
    files = tf.constant(np.asarray(files, str))
    labels = tf.constant(np.asarray(labels, np.int32))

    def one(i, j):
        return load(tf.gather(files, j), tf.stack([tf.constant(seed, tf.int64), i])), tf.gather(labels, j), j

    pairs = tf.data.Dataset.zip(tf.data.Dataset.range(2**62), _shuffled_indices(n, seed))
    return pairs.map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch, drop_remainder=True)


def file_ssl_stream(
    split: FileSplit,
    *,
    batch_labeled: int,
    batch_unlabeled: int = 0,
    seed: int = 0,
    with_indices: bool = False,
    augment: dict | None = None,
    random_crop: bool = True,
    prefetch: int = 2,
    batch_names: tuple[str, str] = ("batch_labeled", "batch_unlabeled"),
) -> tf.data.Dataset:
    """Endless SSL batch dicts decoded from files (see :func:`ssl_pipelines.data.ssl_stream`).

    Each image is resized to ``split.shorter_side`` and cropped to ``split.image_size`` at a
    random position (``random_crop``; else the centre); ``augment`` (``{max_shift, flip}``) is then
    applied per batch as in the in-memory stream. The unlabeled part is used when
    ``batch_unlabeled > 0`` and the split has unlabeled files.
    """
    n_l = len(split.files_labeled)
    b_l = _check_batch(batch_names[0], batch_labeled, n_l, "labeled")
    use_u = bool(batch_unlabeled) and len(split.files_unlabeled) > 0
    kw = {"image_size": split.image_size, "shorter_side": split.shorter_side, "channels": split.channels}
    load = (lambda p, s: _load(p, crop_seed=s, **kw)) if random_crop else (lambda p, s: _load(p, **kw))
    parts = [_endless_images(split.files_labeled, split.y_labeled, b_l, seed, load)]
    if use_u:
        b_u = _check_batch(batch_names[1], batch_unlabeled, len(split.files_unlabeled), "unlabeled")
        parts.append(_endless_images(split.files_unlabeled, split.y_unlabeled, b_u, seed + 1, load))
    aug = _augmenter(augment)
    if aug is not None:
        parts.append(tf.data.Dataset.random(seed=seed + 2).batch(4))

    def to_batch(*args):
        unlabeled = (args[1][0], args[1][2]) if use_u else None
        return assemble_batch(args[0], unlabeled, n_l, with_indices, aug, args[-1])

    ds = tf.data.Dataset.zip(tuple(parts)).map(to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(prefetch)


def file_eval_stream(files: np.ndarray, y: np.ndarray | None = None, *, image_size: Sequence[int],
                     shorter_side: int, channels: int = 3, batch_size: int = 256) -> tf.data.Dataset:
    """Finite, ordered single-crop batches ``(x, y)`` (or ``x``): shorter side resized to
    ``shorter_side``, centre ``image_size`` crop (METHODS.md §3.4 "single crop")."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    image_size = tuple(int(v) for v in image_size)
    load = lambda p: _load(p, image_size=image_size, shorter_side=shorter_side, channels=channels)  # noqa: E731
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(files, str))
    if y is None:
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = tf.data.Dataset.zip(ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True),
                                 tf.data.Dataset.from_tensor_slices(np.asarray(y, np.int32)))
    return ds.batch(int(batch_size)).prefetch(2)


def file_full_image_stream(files: np.ndarray, channels: int = 3) -> tf.data.Dataset:
    """Ordered whole images, one per batch ``(1, H, W, C)`` (sizes differ), for dense evaluation."""
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(files, str))
    return ds.map(lambda p: read_image(p, channels), num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).batch(1).prefetch(2)
