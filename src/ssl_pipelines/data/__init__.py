"""Data: sources, validation, preprocessing, the SSL split and ``tf.data`` streams."""

from ssl_pipelines.data import split_access
from ssl_pipelines.data.augment import random_translate_flip
from ssl_pipelines.data.errors import ConfigError, DataError
from ssl_pipelines.data.image_files import (
    FileDataset,
    FileSplit,
    file_eval_stream,
    file_ssl_stream,
    index_image_folder,
    split_file_dataset,
)
from ssl_pipelines.data.preprocess import preprocess_dataset, resize_images
from ssl_pipelines.data.sources import (
    Dataset,
    load_dataset,
    load_digits,
    load_idx,
    load_image_folder,
    load_npz,
    load_tfds,
    read_idx,
    save_npz,
)
from ssl_pipelines.data.split import SSLSplit, split_indices, split_labeled_unlabeled
from ssl_pipelines.data.streams import (
    INDEX_LABELED,
    INDEX_UNLABELED,
    X_LABELED,
    X_UNLABELED,
    Y_LABELED,
    eval_stream,
    ssl_stream,
    steps_per_epoch,
)
from ssl_pipelines.data.validation import validate_arrays, validate_dataset

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "FileDataset",
    "FileSplit",
    "INDEX_LABELED",
    "INDEX_UNLABELED",
    "SSLSplit",
    "X_LABELED",
    "X_UNLABELED",
    "Y_LABELED",
    "eval_stream",
    "file_eval_stream",
    "file_ssl_stream",
    "index_image_folder",
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_image_folder",
    "load_npz",
    "load_tfds",
    "preprocess_dataset",
    "random_translate_flip",
    "read_idx",
    "resize_images",
    "save_npz",
    "split_access",
    "split_file_dataset",
    "split_indices",
    "split_labeled_unlabeled",
    "ssl_stream",
    "steps_per_epoch",
    "validate_arrays",
    "validate_dataset",
]
