import numpy as np
import pytest

from ssl_pipelines.data import DataError, load_dataset, validate_arrays, validate_dataset


def test_valid_data_passes():
    validate_dataset(load_dataset("digits"))


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((0, 4, 4, 1), np.float32), np.zeros(0, np.int64), "no examples"),
    (np.zeros((3, 4, 4, 1), np.float32), np.zeros(2, np.int64), "3 examples but y has 2 labels"),
    (np.full((3, 4, 4, 1), np.nan, np.float32), np.zeros(3, np.int64), "NaN/inf pixels, first at index 0"),
    (np.zeros((3, 4, 4, 1), np.float32), np.array([0, 10, 1]), r"outside \[0, 10\), e.g. \[10\] at index 1"),
    (np.zeros((3, 4, 4, 1), np.float32), np.array([0, -1, 1]), r"outside \[0, 10\)"),
    (np.zeros((3, 16), np.float32), np.zeros(3, np.int64), r"got shape \(3, 16\)"),
    (np.zeros((3, 4, 4, 1), np.float32), np.zeros((3, 2), np.int64), "1-D array"),
])
def test_bad_arrays_are_named(x, y, message):
    with pytest.raises(DataError, match=message):
        validate_arrays(x, y, 10, "bad")


def test_inf_in_one_image_names_its_index():
    x = np.zeros((5, 2, 2, 1), np.float32)
    x[3, 1, 0, 0] = np.inf
    with pytest.raises(DataError, match="first at index 3"):
        validate_arrays(x, np.zeros(5, np.int64), 10)


def test_train_test_shape_mismatch():
    ds = load_dataset("digits")
    ds.x_test = ds.x_test[:, :4]
    with pytest.raises(DataError, match="train images are .* but test images are"):
        validate_dataset(ds)
