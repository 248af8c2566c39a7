"""Nodes every method pipeline shares: load + validate data, split it, evaluate a classifier,
plot learning curves. Pure functions: parameters and arrays in, values out; the catalog does I/O."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import (
    ConfigError,
    FileDataset,
    SSLSplit,
    index_image_folder,
    load_dataset as _load_dataset,
    preprocess_dataset,
    split_access,
    split_file_dataset,
    split_labeled_unlabeled as _split,
    validate_arrays,
    validate_dataset,
)
from ssl_pipelines.data.sources import Dataset, require_path
from ssl_pipelines.evaluation import classification_report, predict_part, scalar_metrics
from ssl_pipelines.params import LOAD_KEYS, SPLIT_KEYS, Schema, check_pipeline, check_seed, parse_data, parse_evaluation
from ssl_pipelines.params.data import check_streaming

logger = logging.getLogger(__name__)


def check_parameters(pipeline: str, schema: Schema | None = None, **sections: Any) -> dict:
    """Check every parameter section of ``pipeline`` before anything loads or trains
    (:func:`ssl_pipelines.params.check_pipeline`); returns the resolved parameters (JSON artifact)."""
    resolved = check_pipeline(pipeline, sections, schema)
    logger.info("%s: parameters checked (%d sections)", pipeline, len(resolved))
    return resolved


def load_dataset(data_params: dict, seed: int, resolved_parameters: dict | None = None) -> Dataset | FileDataset:
    """Load the configured data set, preprocess and validate it (before anything trains).

    With ``data.streaming: true`` only the file list is read (:func:`index_streaming_dataset`);
    every training node reads splits through :mod:`ssl_pipelines.data.split_access`, so any
    method trains from streamed files. ``resolved_parameters`` (the output of
    :func:`check_parameters`) only orders this node after the parameter check.
    """
    params = parse_data(data_params).values
    seed = check_seed(seed)
    if params.get("streaming"):
        return index_streaming_dataset(params)
    load_kwargs = {k: params[k] for k in LOAD_KEYS if params.get(k) is not None}
    ds = _load_dataset(**load_kwargs, seed=seed)  # the seed only matters for digits' train/test draw
    validate_dataset(ds)
    ds, norm = preprocess_dataset(
        ds, resize=params.get("resize"), channels=params.get("channels"),
        normalization=params.get("normalization") or "unit",
    )
    logger.info("loaded %s: %s (normalization %s)", ds.name, ds.summary(), norm["normalization"])
    return ds


def index_streaming_dataset(params: dict) -> FileDataset:
    """``data.streaming: true``: index an image folder (paths + labels only; pixels are decoded
    on the fly by the training and evaluation streams). Fails before training, naming the path,
    when the folder is missing. Keys: ``path``, ``resize`` (the crop ``[H, W]``), ``shorter_side``
    (default: the larger crop side), ``channels`` (default 3), ``train_dir``, ``test_dir``."""
    check_streaming(params)
    name, resize = params.get("name"), params.get("resize")
    path = require_path(params.get("path"), name)
    ds = index_image_folder(path, image_size=resize, shorter_side=params.get("shorter_side") or max(resize),
                            channels=params.get("channels") or 3, train_dir=params.get("train_dir") or "train",
                            test_dir=params.get("test_dir"))
    logger.info("indexed %s for streaming: %s", ds.name, ds.summary())
    return ds


def split_labeled_unlabeled(ds: Dataset | FileDataset, data_params: dict,
                            seed: int) -> tuple[SSLSplit, dict, dict]:
    """Seeded class-balanced split. Returns the split, its indices (saved) and a summary (logged).

    A streaming :class:`FileDataset` gets the same draw on its file list (a ``FileSplit``)."""
    params = parse_data(data_params).values
    kwargs = {k: params[k] for k in SPLIT_KEYS if params.get(k) is not None}
    if isinstance(ds, FileDataset):
        kwargs.pop("use_extra_as_unlabeled", None)  # an image folder has no extra split
        split = split_file_dataset(ds, seed=check_seed(seed), **kwargs)
        summary = split.summary()
        logger.info("split: %s", summary)
        return split, split.indices, summary
    split = _split(ds, seed=check_seed(seed), **kwargs)
    validate_arrays(split.x_labeled, split.y_labeled, split.num_classes, "labeled split")
    summary = split.summary()
    logger.info("split: %s", summary)
    return split, split.indices, summary


def evaluate_classifier(model, split, eval_params: dict | None = None) -> tuple[dict, dict, dict, Figure]:
    """Evaluate a trained classifier on the test set (and the validation set, if any).

    ``evaluation.test_subset``: on that fixed, seeded subset of the test set.

    Returns:
        ``test_metrics`` and ``validation_metrics`` in kedro-mlflow's metrics format (logged as
        ``test.<name>`` / ``validation.<name>``: ``accuracy``, ``error`` in %, ``top5_error``...),
        the full report (JSON artifact: per-class accuracy, confusion matrix, validation metrics)
        and the confusion-matrix figure.
    """
    ev = parse_evaluation(eval_params)
    test = split_access.test_subset(split, ev.test_subset, ev.test_subset_seed)
    report = classification_report(predict_part(model, test, "test", ev.batch_size), split_access.part_labels(test, "test"),
                                   split.num_classes, ev.top_k)
    if split_access.part_size(split, "validation"):
        val = classification_report(predict_part(model, split, "validation", ev.batch_size), split.y_val,
                                    split.num_classes, ev.top_k)
        report["validation"] = scalar_metrics(val)
    metrics = {k: {"value": v, "step": 0} for k, v in scalar_metrics(report).items()}
    val_metrics = {k: {"value": v, "step": 0} for k, v in report.get("validation", {}).items()}
    logger.info("test accuracy: %.4f (error %.2f%%) on %d %s test images", report["accuracy"], report["error"],
                report["n"], split.dataset_name)
    fig = plots.confusion_matrix_figure(
        np.asarray(report["confusion_matrix"]), split.class_names,
        title=f"test accuracy {100 * report['accuracy']:.2f}%",
    )
    return metrics, val_metrics, report, fig


def evaluate_student(model, split, eval_params: dict | None = None) -> tuple[dict, dict]:
    """Test metrics of an EMA-teacher model's raw (student) classifier ``model.backbone``
    (``evaluate_classifier`` evaluates ``model.call``, the teacher): ``student_metrics`` (logged
    as ``student.accuracy``, ``student.error``, ...) and a JSON report; on ``evaluation.test_subset``
    like the teacher."""
    ev = parse_evaluation(eval_params)
    test = split_access.test_subset(split, ev.test_subset, ev.test_subset_seed)
    report = classification_report(predict_part(model.backbone, test, "test", ev.batch_size),
                                   split_access.part_labels(test, "test"), split.num_classes, ev.top_k)
    logger.info("raw (student) classifier test accuracy: %.4f", report["accuracy"])
    return {k: {"value": v, "step": 0} for k, v in scalar_metrics(report).items()}, report


def plot_learning_curves(history: dict) -> Figure:
    """Learning curves of a training history (``{"loss": [...], "val_loss": [...], ...}``)."""
    if "stages" in history:  # multi-stage histories: {"stages": {stage: history}}
        flat = {f"{stage}.{k}": v for stage, h in history["stages"].items() for k, v in h.items()
                if not k.startswith("val_")}
        return plots.learning_curves_figure(flat)
    return plots.learning_curves_figure(history)
