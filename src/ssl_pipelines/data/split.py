"""The labeled / unlabeled / validation / test split (METHODS.md §0: class-balanced labeled subset).

A split is drawn from the training set by a seeded per-class shuffle: ``labels_per_class`` images
of every class are labeled, an optional class-balanced validation set is held out, and the rest
is unlabeled (its labels are kept only for diagnostics such as pseudo-label accuracy). The test
set is untouched. Same data + same seed = the same indices, byte for byte.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ssl_pipelines.data.errors import DataError
from ssl_pipelines.data.sources import Dataset


@dataclasses.dataclass
class SSLSplit:
    """Arrays of one semi-supervised split plus the indices into the source training set.

    ``y_unlabeled`` holds the true labels of the unlabeled images. Methods must not train on
    them; they exist to measure pseudo-label accuracy. ``normalization`` is the source data set's
    (:attr:`Dataset.normalization`: name and per-channel training mean/std), for the model card.
    """

    x_labeled: np.ndarray
    y_labeled: np.ndarray
    x_unlabeled: np.ndarray
    y_unlabeled: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    indices: dict[str, np.ndarray]
    dataset_name: str = ""
    class_names: list[str] | None = None
    normalization: dict[str, Any] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_labeled.shape[1:])

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset_name,
            "labeled": int(len(self.x_labeled)),
            "unlabeled": int(len(self.x_unlabeled)),
            "validation": int(len(self.x_val)),
            "test": int(len(self.x_test)),
            "input_shape": list(self.input_shape),
            "num_classes": int(self.num_classes),
            "labeled_per_class": np.bincount(self.y_labeled, minlength=self.num_classes).tolist(),
        }


def _check_count(name: str, value, allow_zero: bool = True) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise DataError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
    return int(value)


def split_indices(
    y: np.ndarray,
    num_classes: int,
    *,
    labels_per_class: int | None = None,
    num_labeled: int | None = None,
    validation_per_class: int = 0,
    max_unlabeled: int | None = None,
    include_labeled_in_unlabeled: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Draw class-balanced labeled and validation indices; the rest is unlabeled.

    Args:
        y: training labels.
        num_classes: ``C``.
        labels_per_class: labeled images per class. Give this or ``num_labeled``.
        num_labeled: total labeled images; must be divisible by ``C`` (balanced as in the papers).
        validation_per_class: held-out validation images per class (0 = no validation set).
        max_unlabeled: keep at most this many unlabeled images (a seeded subset; for CPU budgets).
        include_labeled_in_unlabeled: also put the labeled images in the unlabeled pool (the
            Mean Teacher / HybridNet convention); default off (Kingma et al.: the other N - N_l).
        seed: the seed of every draw.

    Returns:
        ``{"labeled", "unlabeled", "validation"}`` int64 index arrays, each sorted.
    """
    y = np.asarray(y)
    lpc = _check_count("labels_per_class", labels_per_class, allow_zero=False)
    nl = _check_count("num_labeled", num_labeled, allow_zero=False)
    vpc = _check_count("validation_per_class", validation_per_class) or 0
    mu = _check_count("max_unlabeled", max_unlabeled)
    if (lpc is None) == (nl is None):
        raise DataError(
            f"give exactly one of labels_per_class and num_labeled, got labels_per_class={labels_per_class!r}, "
            f"num_labeled={num_labeled!r}"
        )
    if nl is not None:
        if nl % num_classes:
            raise DataError(f"num_labeled={nl} is not divisible by num_classes={num_classes}; "
                            f"balanced splits need a multiple of {num_classes}")
        lpc = nl // num_classes
    counts = np.bincount(y.astype(np.int64), minlength=num_classes)
    need = lpc + vpc
    short = [(c, int(n)) for c, n in enumerate(counts) if n < need]
    if short:
        c, n = short[0]
        raise DataError(
            f"labels_per_class={lpc} (+ validation_per_class={vpc}) needs {need} images per class, "
            f"but class {c} has only {n} in the training set"
        )
    rng = np.random.default_rng(seed)
    labeled, validation = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        labeled.append(idx[:lpc])
        validation.append(idx[lpc : lpc + vpc])
    labeled = np.sort(np.concatenate(labeled)).astype(np.int64)
    validation = np.sort(np.concatenate(validation)).astype(np.int64)
    taken = np.zeros(len(y), bool)
    taken[validation] = True
    if not include_labeled_in_unlabeled:
        taken[labeled] = True
    unlabeled = np.flatnonzero(~taken).astype(np.int64)
    if mu is not None and mu < len(unlabeled):
        unlabeled = np.sort(rng.choice(unlabeled, size=mu, replace=False)).astype(np.int64)
    return {"labeled": labeled, "unlabeled": unlabeled, "validation": validation}


def split_labeled_unlabeled(
    ds: Dataset,
    *,
    labels_per_class: int | None = None,
    num_labeled: int | None = None,
    validation_per_class: int = 0,
    max_unlabeled: int | None = None,
    include_labeled_in_unlabeled: bool = False,
    use_extra_as_unlabeled: bool = True,
    seed: int = 0,
) -> SSLSplit:
    """Split a :class:`Dataset` for semi-supervised learning (see :func:`split_indices`).

    Extra unlabeled images of the source (STL-10 ``unlabelled``, SVHN ``extra``) are appended to
    the unlabeled set when ``use_extra_as_unlabeled``; their labels are ``-1``.
    """
    idx = split_indices(
        ds.y_train, ds.num_classes, labels_per_class=labels_per_class, num_labeled=num_labeled,
        validation_per_class=validation_per_class, max_unlabeled=max_unlabeled,
        include_labeled_in_unlabeled=include_labeled_in_unlabeled, seed=seed,
    )
    x_u, y_u = ds.x_train[idx["unlabeled"]], ds.y_train[idx["unlabeled"]]
    if use_extra_as_unlabeled and ds.x_extra is not None and len(ds.x_extra):
        x_u = np.concatenate([x_u, ds.x_extra])
        y_u = np.concatenate([y_u, -np.ones(len(ds.x_extra), np.int64)])
    return SSLSplit(
        x_labeled=ds.x_train[idx["labeled"]], y_labeled=ds.y_train[idx["labeled"]],
        x_unlabeled=x_u, y_unlabeled=y_u,
        x_val=ds.x_train[idx["validation"]], y_val=ds.y_train[idx["validation"]],
        x_test=ds.x_test, y_test=ds.y_test, num_classes=ds.num_classes,
        indices={**idx, "seed": np.asarray(seed, np.int64)},
        dataset_name=ds.name, class_names=ds.class_names, normalization=ds.normalization,
    )
