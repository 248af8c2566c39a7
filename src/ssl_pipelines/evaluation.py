"""Evaluation shared by every pipeline: accuracy, error, top-k, per-class accuracy, confusion matrix."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ssl_pipelines.data import split_access
from ssl_pipelines.data.streams import eval_stream


def predict_logits(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class logits of ``model`` (any method model or backbone) for ``x``, in batches."""
    return np.asarray(model.predict(eval_stream(x, batch_size=batch_size), verbose=0))


def predict_part(model, split, part: str, batch_size: int = 256) -> np.ndarray:
    """Class logits for one part (``labeled``, ``validation``, ``test``...) of an in-memory or a
    streaming split (single centre crops, METHODS.md §3.4)."""
    stream = split_access.evaluation_stream(split, part, batch_size, with_labels=False)
    return np.asarray(model.predict(stream, verbose=0))


def classification_report(
    logits: np.ndarray, y: np.ndarray, num_classes: int, top_k: Sequence[int] = (1, 5)
) -> dict[str, Any]:
    """Metrics of predictions against labels.

    Returns:
        ``accuracy``, ``error`` (in %, as the papers report it), ``top<k>_accuracy`` /
        ``top<k>_error`` for each ``k < num_classes``, ``per_class_accuracy`` (list),
        ``confusion_matrix`` (list of lists, rows = true class) and ``n``.
    """
    logits = np.asarray(logits)
    y = np.asarray(y).astype(np.int64)
    pred = logits.argmax(axis=1)
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (y, pred), 1)
    acc = float((pred == y).mean()) if len(y) else float("nan")
    support = cm.sum(axis=1)
    per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    report: dict[str, Any] = {
        "n": int(len(y)),
        "accuracy": acc,
        "error": 100.0 * (1.0 - acc),
        "per_class_accuracy": [None if np.isnan(v) else float(v) for v in per_class],
        "confusion_matrix": cm.tolist(),
    }
    order = np.argsort(-logits, axis=1)
    for k in top_k:
        if 1 < k < num_classes:
            hit = float((order[:, :k] == y[:, None]).any(axis=1).mean())
            report[f"top{k}_accuracy"] = hit
            report[f"top{k}_error"] = 100.0 * (1.0 - hit)
    return report


def scalar_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The scalar entries of a report (what goes to MLflow as metrics)."""
    return {k: float(v) for k, v in report.items() if isinstance(v, (int, float)) and k != "n"}


def pseudo_label_stats(logits: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """Accuracy of ``argmax(logits)`` against ``y_true`` (rows with label -1 are skipped) and the
    mean max probability of ``softmax(logits)`` over all rows (pseudo-label diagnostics; the
    true labels of unlabeled images are never trained on)."""
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    known = np.asarray(y_true) >= 0
    acc = float((p.argmax(axis=1)[known] == np.asarray(y_true)[known]).mean()) if known.any() else float("nan")
    return {"accuracy": acc, "mean_max_prob": float(p.max(axis=1).mean())}
