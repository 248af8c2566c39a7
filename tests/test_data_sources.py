import gzip
import io
import struct
import tarfile
import time

import numpy as np
import pytest

from conftest import SHARED_DATA
from ssl_pipelines.data import DataError, load_dataset, read_idx, save_npz


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_digits_is_the_offline_default():
    ds = load_dataset("digits")
    assert ds.x_train.shape[1:] == (8, 8, 1) and ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert ds.num_classes == 10
    # stratified seeded test draw: every class is in the test set, and the draw is reproducible
    assert set(np.unique(ds.y_test)) == set(range(10))
    np.testing.assert_array_equal(load_dataset("digits").y_test, ds.y_test)


def test_idx_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    xtr, ytr = rng.integers(0, 256, (20, 6, 5)), rng.integers(0, 3, 20)
    xte, yte = rng.integers(0, 256, (7, 6, 5)), rng.integers(0, 3, 7)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", xtr)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", ytr)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", xte)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", yte)
    ds = load_dataset("idx", path=tmp_path)
    assert ds.x_train.shape == (20, 6, 5, 1)
    np.testing.assert_allclose(ds.x_train[..., 0] * 255, xtr, atol=1e-3)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert ds.num_classes == 3


def test_idx_rejects_a_file_that_is_not_idx(tmp_path):
    p = tmp_path / "x.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x12\x34\x56\x78garbage")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(p)


def test_idx_folder_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset("idx", path=tmp_path)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").exists(), reason="shared MNIST copy not present")
def test_shared_mnist_loads_through_the_idx_path():
    ds = load_dataset("idx", path=SHARED_DATA / "mnist")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    # PROVENANCE.md: train mean/255 = 0.130660 and the published label histogram
    assert abs(float(ds.x_train.mean()) - 0.130660) < 1e-5
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_npz_round_trip_and_missing_keys(tmp_path):
    ds = load_dataset("digits")
    path = save_npz(ds, tmp_path / "digits.npz")
    back = load_dataset("npz", path=path)
    np.testing.assert_allclose(back.x_train, ds.x_train, atol=1 / 255)
    np.testing.assert_array_equal(back.y_train, ds.y_train)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 4, 4)), y_train=np.zeros(2))
    with pytest.raises(DataError, match=r"lacks keys \['x_test', 'y_test'\]"):
        load_dataset("npz", path=bad)


def test_image_folder_from_a_tar_archive(tmp_path):
    from PIL import Image

    archive = tmp_path / "imgs.tar"
    rng = np.random.default_rng(1)
    expected = {}
    with tarfile.open(archive, "w") as tar:
        for split, n in (("train", 3), ("test", 2)):
            for cls in ("cat", "airplane"):
                for i in range(n):
                    arr = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
                    expected[(split, cls, i)] = arr
                    buf = io.BytesIO()
                    Image.fromarray(arr).save(buf, format="PNG")
                    info = tarfile.TarInfo(f"root/{split}/{cls}/{i:04d}.png")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))
    ds = load_dataset("image_folder", path=archive)
    assert ds.class_names == ["airplane", "cat"]  # sorted: label 0 = airplane
    assert ds.x_train.shape == (6, 4, 4, 3) and ds.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(ds.x_train[0] * 255, expected[("train", "airplane", 0)], atol=1e-3)


def test_unknown_dataset_name_is_named_in_the_error():
    with pytest.raises(DataError, match="unknown data set 'not_a_dataset'"):
        load_dataset("not_a_dataset")


def test_missing_tfds_dataset_fails_fast_with_where_to_put_it(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match="is not prepared in") as err:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert str(tmp_path) in str(err.value)
    assert time.monotonic() - start < 30


def test_local_source_without_path_is_an_error():
    with pytest.raises(DataError, match="needs a 'path'"):
        load_dataset("npz")
