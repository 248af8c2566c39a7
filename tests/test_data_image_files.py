"""The streaming image-folder source: index, seeded balanced split, decoded batches, errors."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.data import (
    DataError,
    FileSplit,
    index_image_folder,
    load_dataset,
    split_access,
    split_file_dataset,
    split_indices,
    split_labeled_unlabeled,
)
from ssl_pipelines.data.image_files import center_crop, resize_shorter_side

CLASSES = ["cat", "dog", "eel", "fox", "gnu", "hen"]
SPLIT = {"labels_per_class": 2, "validation_per_class": 1}


def write_image_folder(root, train_per_class=5, test_per_class=2, size=(16, 16), suffix=".png", seed=0):
    """``root/{train,test}/<class>/NN<suffix>``: random RGB images whose mean brightness grows with
    the class (so a classifier can learn them), plus a stray non-image file that must be ignored."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 60, (*size, 3)) + 35 * c
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:02d}{suffix}")
    (root / "train" / CLASSES[0] / "README.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images"))


def test_index_lists_files_and_labels_like_the_in_memory_loader(folder):
    ds = index_image_folder(folder, image_size=(16, 16), shorter_side=16)
    assert ds.class_names == CLASSES and ds.num_classes == 6 and ds.input_shape == (16, 16, 3)
    assert len(ds.train_files) == 30 and len(ds.test_files) == 12  # the .txt file is skipped
    np.testing.assert_array_equal(np.bincount(ds.y_train), [5] * 6)
    memory = load_dataset("image_folder", path=folder)
    np.testing.assert_array_equal(ds.y_train, memory.y_train)
    np.testing.assert_array_equal(ds.y_test, memory.y_test)


def test_split_is_seeded_balanced_disjoint_and_equals_the_array_split(folder):
    ds = index_image_folder(folder, image_size=(16, 16), shorter_side=16)
    split = split_file_dataset(ds, seed=3, **SPLIT)
    assert isinstance(split, FileSplit)
    np.testing.assert_array_equal(np.bincount(split.y_labeled, minlength=6), [2] * 6)
    np.testing.assert_array_equal(np.bincount(split.y_val, minlength=6), [1] * 6)
    parts = [set(split.files_labeled), set(split.files_val), set(split.files_unlabeled)]
    assert sum(map(len, parts)) == 30 and len(set.union(*parts)) == 30  # disjoint, covering train
    want = split_indices(ds.y_train, 6, seed=3, **SPLIT)
    for key in ("labeled", "unlabeled", "validation"):
        np.testing.assert_array_equal(split.indices[key], want[key])
    # the same draw as the in-memory split of the same folder, and the same pixels (PNG, no resize)
    memory = split_labeled_unlabeled(load_dataset("image_folder", path=folder), seed=3, **SPLIT)
    np.testing.assert_array_equal(split.indices["labeled"], memory.indices["labeled"])
    x = np.concatenate([b.numpy() for b in split_access.evaluation_stream(split, "labeled", 5, with_labels=False)])
    assert x.dtype == np.float32 and x.shape == memory.x_labeled.shape
    np.testing.assert_allclose(x, memory.x_labeled, atol=1e-5)
    # seeded: same seed, same split; another seed, another one
    np.testing.assert_array_equal(split_file_dataset(ds, seed=3, **SPLIT).files_labeled, split.files_labeled)
    assert set(split_file_dataset(ds, seed=4, **SPLIT).files_labeled) != set(split.files_labeled)


def test_training_stream_gives_ssl_batch_dicts_of_random_crops(folder):
    ds = index_image_folder(folder, image_size=(12, 12), shorter_side=16)
    split = split_file_dataset(ds, seed=0, **SPLIT)
    stream = split_access.training_stream(split, batch_labeled=4, batch_unlabeled=3, seed=1,
                                          augment={"flip": True}, with_indices=True)
    batches = list(stream.take(4).as_numpy_iterator())
    b = batches[0]
    assert set(b) == {"x_labeled", "y_labeled", "x_unlabeled", "index_labeled", "index_unlabeled"}
    assert b["x_labeled"].shape == (4, 12, 12, 3) and b["x_labeled"].dtype == np.float32
    assert b["x_unlabeled"].shape == (3, 12, 12, 3) and b["y_labeled"].dtype == np.int32
    assert 0.0 <= min(x["x_labeled"].min() for x in batches) and max(x["x_labeled"].max() for x in batches) <= 1.0
    for x in batches:  # labels are those of the labeled files the indices point at
        np.testing.assert_array_equal(x["y_labeled"], split.y_labeled[x["index_labeled"]])
        assert (x["index_unlabeled"] >= len(split.files_labeled)).all()
    # deterministic (stateless seeds): a second iterator gives the same batches; another seed differs
    again = list(stream.take(4).as_numpy_iterator())
    np.testing.assert_array_equal(again[3]["x_unlabeled"], batches[3]["x_unlabeled"])
    other = next(split_access.training_stream(split, batch_labeled=4, seed=2).as_numpy_iterator())
    assert set(other) == {"x_labeled", "y_labeled"}
    # random crops (no flips here): some training crops are not the centre crop of their image
    centre = np.concatenate(list(split_access.evaluation_stream(split, "labeled", 5, with_labels=False)
                                 .as_numpy_iterator()))
    assert centre.shape == (12, 12, 12, 3)
    plain = next(split_access.training_stream(split, batch_labeled=12, seed=1, with_indices=True)
                 .as_numpy_iterator())
    same = [np.allclose(x, centre[i]) for x, i in zip(plain["x_labeled"], plain["index_labeled"])]
    assert not all(same), "training crops are all centre crops"
    # ... but they are crops of the right image: one of the (16-12+1)^2 windows of the resized image
    assert np.allclose(plain["x_labeled"].mean(), centre.mean(), atol=0.05)


def test_resize_shorter_side_and_centre_crop():
    image = tf.reshape(tf.range(20 * 28 * 1, dtype=tf.float32), (20, 28, 1))
    assert tuple(resize_shorter_side(image, 10).shape) == (10, 14, 1)
    assert tuple(resize_shorter_side(tf.stack([image, image]), 30).shape) == (2, 30, 42, 1)
    np.testing.assert_array_equal(center_crop(image, (10, 20)).numpy(), image.numpy()[5:15, 4:24])


def test_jpeg_folder_with_val_subfolder_and_non_square_images(tmp_path):
    root = write_image_folder(tmp_path / "imagenet", train_per_class=2, test_per_class=1, size=(20, 28),
                              suffix=".JPEG")
    (root / "test").rename(root / "val")  # the ImageNet layout: train/ + val/
    ds = index_image_folder(root, image_size=(16, 16), shorter_side=18)
    split = split_file_dataset(ds, labels_per_class=1)
    x, y = next(split_access.evaluation_stream(split, "test", 32).as_numpy_iterator())
    assert x.shape == (6, 16, 16, 3) and list(y) == list(range(6))
    full = next(split_access.full_image_batches(split, "test").as_numpy_iterator())
    assert full.shape == (1, 20, 28, 3)  # dense evaluation sees the whole image


def test_bad_paths_and_parameters_give_clear_errors(tmp_path, folder):
    from ssl_pipelines.data import ConfigError
    from ssl_pipelines.pipelines.common_nodes import load_dataset as load_node

    missing = tmp_path / "no_imagenet_here"
    params = {"name": "image_folder", "path": str(missing), "streaming": True, "resize": [16, 16]}
    with pytest.raises(ConfigError, match="data.streaming must be true or false, got 'yes'"):
        load_node({**params, "streaming": "yes"}, 0)
    with pytest.raises(DataError, match=f"path {str(missing)!r} does not exist"):
        load_node(params, 0)
    with pytest.raises(DataError, match="has no 'training' sub-folder"):
        index_image_folder(folder, image_size=(16, 16), shorter_side=16, train_dir="training")
    with pytest.raises(ConfigError, match="shorter_side must be an integer >= the crop size"):
        index_image_folder(folder, image_size=(16, 16), shorter_side=12)
    with pytest.raises(ConfigError, match="data.streaming: true supports data.name"):
        load_node({**params, "name": "cifar10"}, 0)
    with pytest.raises(ConfigError, match="needs data.resize"):
        load_node({**params, "path": str(folder), "resize": None}, 0)
    ds = load_node({**params, "path": str(folder)}, 0)
    assert ds.input_shape == (16, 16, 3) and ds.shorter_side == 16
