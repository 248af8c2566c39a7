"""Data sources: the embedded digits set, tensorflow-datasets, MNIST-style IDX folders, ``.npz``
files and image folders (a directory or a ``.tar``/``.tar.xz`` of ``<split>/<class>/*.jpg|png``).

Every loader returns a :class:`Dataset`: ``float32`` images in NHWC layout scaled to ``[0, 1]``,
``int64`` labels, the class names and where the data came from. Nothing here downloads
unless the caller asks for it, and a tfds data set that is not on disk fails within seconds.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import socket
import struct
import zipfile
import zlib
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from ssl_pipelines.data.errors import DataError
from ssl_pipelines.shared_data import missing_hint

#: tfds names the paper benchmarks use; any other tfds name works too.
KNOWN_TFDS = ("mnist", "cifar10", "cifar100", "svhn_cropped", "stl10", "fashion_mnist", "imagenet2012")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclasses.dataclass
class Dataset:
    """A labelled train/test image set, as loaded from a source.

    Attributes:
        x_train, y_train, x_test, y_test: images ``(N, H, W, C)`` float32 and labels ``(N,)`` int64.
        num_classes: number of classes ``C``; labels lie in ``[0, C)``.
        name: the source's name (``digits``, ``mnist``, a path, ...).
        class_names: optional human-readable class names.
        x_extra: optional extra unlabeled images (e.g. STL-10 ``unlabelled``, SVHN ``extra``).
        normalization: set by :func:`ssl_pipelines.data.preprocess_dataset`:
            ``{"normalization": name, "mean": [...], "std": [...]}`` (per channel, training
            statistics), so that a saved model's card can tell how to scale new inputs.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    class_names: list[str] | None = None
    x_extra: np.ndarray | None = None
    normalization: dict[str, Any] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "train": int(len(self.x_train)),
            "test": int(len(self.x_test)),
            "extra": int(len(self.x_extra)) if self.x_extra is not None else 0,
            "input_shape": list(self.input_shape),
            "num_classes": int(self.num_classes),
        }


def load_dataset(
    name: str = "digits",
    *,
    path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool | str = "auto",
    test_fraction: float = 0.25,
    seed: int = 0,
    num_classes: int | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
) -> Dataset:
    """Load a data set by name.

    Args:
        name: ``digits`` (scikit-learn's bundled 8x8 digits, the offline default), ``idx``
            (a folder of MNIST-style IDX files, ``path``), ``npz`` (a file with ``x_train, y_train,
            x_test, y_test``, ``path``), ``image_folder`` (a directory or tar archive holding
            ``train/<class>/*`` and ``test/<class>/*``, ``path``), or any tensorflow-datasets name
            (``mnist``, ``cifar10``, ``svhn_cropped``, ``stl10`` ...; ``data_dir`` optional).
        path: file or folder for the local sources.
        data_dir: tensorflow-datasets data directory.
        download: tfds only: ``True`` downloads if missing, ``False`` never does, ``"auto"``
            downloads only when the tfds servers are reachable (checked in 3 s).
        test_fraction: digits only: share held out as the test set (stratified, seeded).
        seed: digits only: seed of the train/test split.
        num_classes: override the number of classes (default: inferred from the labels).
        max_train, max_test: keep only the first N training / test examples (quick experiments).

    Raises:
        DataError: unknown name, missing files, malformed files.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"data set name must be a non-empty string, got {name!r}")
    key = name.lower()
    if key == "digits":
        ds = load_digits(test_fraction=test_fraction, seed=seed)
    elif key == "idx":
        ds = load_idx(require_path(path, key), num_classes=num_classes)
    elif key == "npz":
        ds = load_npz(require_path(path, key), num_classes=num_classes)
    elif key == "image_folder":
        ds = load_image_folder(require_path(path, key))
    else:
        ds = load_tfds(name, data_dir=data_dir, download=download)
    if num_classes is not None:
        ds.num_classes = int(num_classes)
    if max_train is not None:
        ds.x_train, ds.y_train = ds.x_train[: int(max_train)], ds.y_train[: int(max_train)]
    if max_test is not None:
        ds.x_test, ds.y_test = ds.x_test[: int(max_test)], ds.y_test[: int(max_test)]
    return ds


def require_path(path, source: str) -> Path:
    """``path`` as an existing :class:`~pathlib.Path`; a :class:`DataError` naming ``source`` if it is
    None or does not exist (before anything is loaded or trained)."""
    if path is None:
        raise DataError(f"data source {source!r} needs a 'path' parameter (a file or folder), got None")
    p = Path(path).expanduser()
    if not p.exists():
        # a path in the shared data folder (conf/paper's ${shared_data:...}) says which variable sets it
        raise DataError(f"data source {source!r}: path {str(p)!r} does not exist{missing_hint(p)}")
    return p


def _to_float_images(x: np.ndarray, max_value: float | None = None) -> np.ndarray:
    """Scale integer or float images to float32 in [0, 1] and add a channel axis if missing."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if max_value is None:
        max_value = 255.0 if x.dtype == np.uint8 else 1.0
    return (x.astype(np.float32) / np.float32(max_value)).astype(np.float32)


def _infer_num_classes(source: str, y_train: np.ndarray, *ys: np.ndarray) -> int:
    """``max(label) + 1``, provided every class below it has training examples: a stray label
    (12 in 10-class data) would otherwise silently add empty classes. Negative or non-integer
    labels are left to :func:`~ssl_pipelines.data.validation.validate_dataset`."""
    labels = [np.asarray(y).reshape(-1) for y in (y_train, *ys)]
    if not all(np.issubdtype(y.dtype, np.integer) for y in labels):
        return max((int(np.nanmax(y)) for y in labels if len(y) and np.isfinite(y).any()), default=-1) + 1
    m = max((int(np.max(y)) for y in labels if len(y)), default=-1)
    if m < 0 or not len(labels[0]):  # no training labels: validate_dataset reports the empty data
        return m + 1
    counts = np.bincount(labels[0][labels[0] >= 0], minlength=m + 1)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise DataError(
            f"{source}: labels go up to {m} but classes {empty[:10].tolist()} have no training examples, so "
            f"the number of classes cannot be inferred (a stray label?); set data.num_classes to the true "
            f"number of classes, or fix the labels")
    return m + 1


def _check_numeric(source: str, key: str, a: np.ndarray, integer: bool = False) -> None:
    a = np.asarray(a)
    ok = np.issubdtype(a.dtype, np.integer) or (not integer and (np.issubdtype(a.dtype, np.floating)
                                                                 or a.dtype == np.bool_))
    if integer and np.issubdtype(a.dtype, np.floating):
        ok = True  # float labels that are whole numbers are accepted by validate_dataset
    if not ok:
        raise DataError(f"{source}: {key} has dtype {a.dtype}; expected {'integer labels' if integer else 'numeric images'}")


# --------------------------------------------------------------------------------------------
# digits (embedded default)
# --------------------------------------------------------------------------------------------
def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits (pixel values 0-16), shipped with the package.

    Split into train/test by a seeded, class-stratified draw of ``test_fraction``.
    """
    from sklearn.datasets import load_digits as _load

    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    bunch = _load()
    x = _to_float_images(bunch.images.reshape(-1, 8, 8), max_value=16.0)
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(len(idx) * test_fraction))])
    test_mask = np.zeros(len(y), bool)
    test_mask[test_idx] = True
    return Dataset(
        x_train=x[~test_mask], y_train=y[~test_mask], x_test=x[test_mask], y_test=y[test_mask],
        num_classes=10, name="digits", class_names=[str(i) for i in range(10)],
    )


# --------------------------------------------------------------------------------------------
# IDX (MNIST-style)
# --------------------------------------------------------------------------------------------
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array (LeCun's MNIST format)."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
        raise DataError(f"{p}: unreadable ({type(exc).__name__}: {exc}); expected an IDX file") from exc
    if len(data) < 4:
        raise DataError(f"{p}: too short to be an IDX file ({len(data)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if zero != 0 or dtype_code not in dtypes:
        raise DataError(f"{p}: not an IDX file (magic {data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{p}: truncated IDX header: {ndim} dimensions need {header} bytes, the file has {len(data)}")
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    itemsize = np.dtype(dtypes[dtype_code]).itemsize
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected * itemsize:
        raise DataError(f"{p}: header says shape {shape} ({expected * itemsize} bytes of data) but the file holds "
                        f"{len(data) - header} bytes after the header (truncated?)")
    arr = np.frombuffer(data, dtype=dtypes[dtype_code], offset=header)
    return arr.reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (f"{stem}.gz", stem, f"{stem.replace('-idx', '.idx')}.gz", stem.replace("-idx", ".idx")):
        p = folder / candidate
        if p.exists():
            return p
    raise DataError(f"IDX folder {str(folder)!r} has no file {stem!r} (or {stem}.gz)")


def load_idx(folder: str | os.PathLike, num_classes: int | None = None) -> Dataset:
    """Load MNIST-style IDX files (``train-images-idx3-ubyte[.gz]`` etc.) from a folder.

    ``num_classes`` None: inferred from the labels (every class up to the largest label must have
    training examples, else a :class:`DataError`).

    Works for MNIST, Fashion-MNIST and KMNIST, and for the copy in ``../shared/data/mnist``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"IDX source expects a folder, got {str(folder)!r}")
    x_train = read_idx(_find_idx(folder, "train-images-idx3-ubyte"))
    y_train = read_idx(_find_idx(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    x_test = read_idx(_find_idx(folder, "t10k-images-idx3-ubyte"))
    y_test = read_idx(_find_idx(folder, "t10k-labels-idx1-ubyte")).astype(np.int64)
    return Dataset(
        x_train=_to_float_images(x_train), y_train=y_train, x_test=_to_float_images(x_test), y_test=y_test,
        num_classes=int(num_classes) if num_classes is not None
        else _infer_num_classes(f"IDX folder {str(folder)!r}", y_train, y_test), name=f"idx:{folder.name}",
    )


# --------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | os.PathLike, num_classes: int | None = None) -> Dataset:
    """Load ``x_train, y_train, x_test, y_test`` (and optional ``x_extra``) from an ``.npz`` file.

    The number of classes is ``num_classes``, else the file's integer ``num_classes`` entry, else
    inferred from the labels (every class up to the largest label must have training examples).
    Truncated or non-zip files, missing keys and non-numeric arrays raise a :class:`DataError`.

    uint8 images are scaled by 1/255; float images are kept as they are.
    """
    path = Path(path)
    source = repr(str(path))
    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):  # a plain .npy
            raise DataError(f"{source} holds a single array, not an .npz archive of {list(NPZ_KEYS)}")
        with loaded as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DataError(f"{source} lacks keys {missing}; expected {list(NPZ_KEYS)}, found {f.files}")
            arrays = {k: f[k] for k in f.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{source} is not a readable .npz file ({type(exc).__name__}: {exc}); "
                        f"expected an archive with {list(NPZ_KEYS)}") from exc
    for key in ("x_train", "x_test", "x_extra"):
        if key in arrays:
            _check_numeric(source, key, arrays[key])
    for key in ("y_train", "y_test"):
        _check_numeric(source, key, arrays[key], integer=True)
    extra = arrays.get("x_extra")
    if num_classes is not None:
        num_classes = int(num_classes)
    elif "num_classes" in arrays:  # declared by the file: labels are then checked against it
        declared = np.asarray(arrays["num_classes"])
        if declared.shape != () or not np.issubdtype(declared.dtype, np.integer):
            raise DataError(f"{source}: num_classes must be an integer scalar, got {declared!r}")
        num_classes = int(declared)
    else:
        num_classes = _infer_num_classes(source, arrays["y_train"], arrays["y_test"])
    return Dataset(
        x_train=_to_float_images(arrays["x_train"]), y_train=np.asarray(arrays["y_train"]).reshape(-1),
        x_test=_to_float_images(arrays["x_test"]), y_test=np.asarray(arrays["y_test"]).reshape(-1),
        num_classes=num_classes, name=f"npz:{path.name}",
        x_extra=_to_float_images(extra) if extra is not None else None,
    )


def save_npz(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write a :class:`Dataset` as uint8 ``.npz`` (a fast cache for image folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_u8 = lambda x: np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, x_train=to_u8(ds.x_train), y_train=ds.y_train, x_test=to_u8(ds.x_test), y_test=ds.y_test)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# image folders (e.g. the CIFAR-10 JPEG copy: train/<class>/NNNN.jpg)
# --------------------------------------------------------------------------------------------
def load_image_folder(path: str | os.PathLike) -> Dataset:
    """Load ``train/<class>/*`` and ``test/<class>/*`` images from a folder or a tar archive.

    Class names are sorted alphabetically and numbered from 0 (for CIFAR-10's folder names this
    is the official label order). Within a class, files are sorted by name.
    """
    from PIL import Image

    path = Path(path)
    files: dict[str, dict[str, list[tuple[str, bytes | Path]]]] = {"train": {}, "test": {}}
    if path.is_dir():
        for split in files:
            root = path / split
            if not root.is_dir():
                raise DataError(f"image folder {str(path)!r} has no {split!r} subfolder")
            for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                files[split][cls_dir.name] = [
                    (f.name, f) for f in sorted(cls_dir.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES
                ]
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = Path(member.name).parts
                parts = parts[parts.index("train") :] if "train" in parts else (
                    parts[parts.index("test") :] if "test" in parts else ())
                if len(parts) != 3 or Path(parts[2]).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                split, cls, fname = parts
                data = tar.extractfile(member).read()
                files[split].setdefault(cls, []).append((fname, data))
    else:
        raise DataError(f"image_folder path {str(path)!r} is neither a folder nor a tar archive")

    class_names = sorted(set(files["train"]) | set(files["test"]))
    if not class_names:
        raise DataError(f"image folder {str(path)!r} holds no class subfolders with images")

    def decode(split: str) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for label, cls in enumerate(class_names):
            for _, src in sorted(files[split].get(cls, []), key=lambda t: t[0]):
                img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
                xs.append(np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img))
                ys.append(label)
        if not xs:
            raise DataError(f"image folder {str(path)!r}: split {split!r} holds no images")
        return _to_float_images(np.stack(xs)), np.asarray(ys, np.int64)

    x_train, y_train = decode("train")
    x_test, y_test = decode("test")
    return Dataset(x_train, y_train, x_test, y_test, num_classes=len(class_names),
                   name=f"image_folder:{path.name}", class_names=class_names)


# --------------------------------------------------------------------------------------------
# tensorflow-datasets
# --------------------------------------------------------------------------------------------
def _tfds_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(("storage.googleapis.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_tfds(name: str, data_dir: str | os.PathLike | None = None, download: bool | str = "auto") -> Dataset:
    """Load a tensorflow-datasets image classification set as numpy arrays.

    Fails within seconds, naming the folder to put the prepared files in, when the data set is not
    on disk and cannot be downloaded (tfds itself retries for minutes).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError(f"tensorflow-datasets is needed for data set {name!r}: {exc}") from exc
    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
    except Exception as exc:  # tfds raises DatasetNotFoundError (a ValueError) for unknown names
        raise DataError(
            f"unknown data set {name!r}: not 'digits', 'idx', 'npz', 'image_folder' nor a "
            f"tensorflow-datasets name (e.g. {', '.join(KNOWN_TFDS)}). ({type(exc).__name__}: {exc})"
        ) from exc
    if not builder.is_prepared():
        allowed = download is True or (download == "auto" and _tfds_reachable())
        if not allowed:
            raise DataError(
                f"tensorflow-datasets {name!r} is not prepared in {builder.data_dir!r} and cannot be "
                f"downloaded here (download={download!r}). Prepare it on a machine with internet "
                f"(`tfds build {name}`) and copy the folder to {builder.data_dir!r}, pass "
                f"data.data_dir, or use a local source: name: npz|idx|image_folder with data.path."
            )
        builder.download_and_prepare()
    splits = builder.info.splits
    test_split = "test" if "test" in splits else ("validation" if "validation" in splits else None)
    if "train" not in splits or test_split is None:
        raise DataError(f"tfds {name!r} needs 'train' and 'test' (or 'validation') splits, has {list(splits)}")

    def arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
        return _to_float_images(x), np.asarray(y, np.int64)

    x_train, y_train = arrays("train")
    x_test, y_test = arrays(test_split)
    extra = None
    for extra_split in ("unlabelled", "extra"):
        if extra_split in splits:
            extra = _to_float_images(tfds.as_numpy(builder.as_dataset(split=extra_split, batch_size=-1))["image"])
            break
    label_feature = builder.info.features["label"]
    return Dataset(x_train, y_train, x_test, y_test, num_classes=int(label_feature.num_classes),
                   name=name, class_names=list(getattr(label_feature, "names", []) or []) or None, x_extra=extra)
