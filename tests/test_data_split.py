import numpy as np
import pytest

from ssl_pipelines.data import DataError, load_dataset, split_indices, split_labeled_unlabeled


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_split_is_balanced_disjoint_and_complete(digits):
    sp = split_labeled_unlabeled(digits, labels_per_class=7, validation_per_class=3, seed=5)
    assert np.bincount(sp.y_labeled, minlength=10).tolist() == [7] * 10
    assert np.bincount(sp.y_val, minlength=10).tolist() == [3] * 10
    lab, unl, val = (set(sp.indices[k].tolist()) for k in ("labeled", "unlabeled", "validation"))
    assert not (lab & unl) and not (lab & val) and not (unl & val)
    assert len(lab | unl | val) == len(digits.x_train)
    np.testing.assert_array_equal(sp.x_labeled, digits.x_train[sp.indices["labeled"]])
    np.testing.assert_array_equal(sp.x_test, digits.x_test)  # test set untouched


def test_same_seed_same_indices_byte_for_byte(digits):
    a = split_indices(digits.y_train, 10, labels_per_class=5, validation_per_class=2, seed=3)
    b = split_indices(digits.y_train, 10, labels_per_class=5, validation_per_class=2, seed=3)
    c = split_indices(digits.y_train, 10, labels_per_class=5, validation_per_class=2, seed=4)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes()
    assert a["labeled"].tobytes() != c["labeled"].tobytes()


def test_num_labeled_and_optional_pools(digits):
    sp = split_labeled_unlabeled(digits, num_labeled=50, max_unlabeled=100, seed=0)
    assert len(sp.x_labeled) == 50 and len(sp.x_unlabeled) == 100 and len(sp.x_val) == 0
    sp2 = split_labeled_unlabeled(digits, labels_per_class=2, include_labeled_in_unlabeled=True, seed=0)
    assert set(sp2.indices["labeled"]) <= set(sp2.indices["unlabeled"])


@pytest.mark.parametrize("kwargs, message", [
    ({"labels_per_class": 0}, "labels_per_class must be a positive integer"),
    ({"labels_per_class": -3}, "labels_per_class must be a positive integer"),
    ({"labels_per_class": 500}, "but class .* has only"),
    ({"num_labeled": 55}, "not divisible by num_classes=10"),
    ({"labels_per_class": 5, "num_labeled": 50}, "exactly one of"),
    ({}, "exactly one of"),
    ({"labels_per_class": 2.5}, "labels_per_class must be a positive integer, got 2.5"),
])
def test_bad_label_counts_are_rejected(digits, kwargs, message):
    with pytest.raises(DataError, match=message):
        split_labeled_unlabeled(digits, seed=0, **kwargs)
