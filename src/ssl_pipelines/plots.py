"""Figures people would rather look at than numbers: confusion matrices, learning curves, image
grids (reconstructions, samples). Every function returns a ``matplotlib.figure.Figure`` built
without pyplot (no backend is selected, no global figure list grows); saving is the catalog's job."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def confusion_matrix_figure(cm: np.ndarray, class_names: Sequence[str] | None = None, title: str = "") -> Figure:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), counts annotated."""
    cm = np.asarray(cm)
    n = cm.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(n)]
    size = max(4.0, 0.45 * n + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=45 if n > 10 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    if n <= 20:
        thresh = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > thresh else "black")
    fig.tight_layout()
    return fig


def learning_curves_figure(history: dict[str, Sequence[float]], title: str = "") -> Figure:
    """One panel per metric family (``loss``, ``accuracy``, each loss term); ``val_*`` overlaid."""
    keys = [k for k in history if not k.startswith("val_")]
    keys = keys or list(history)
    cols = min(3, max(1, len(keys)))
    rows = int(np.ceil(len(keys) / cols)) if keys else 1
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        ax.plot(np.arange(1, len(history[key]) + 1), history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(np.arange(1, len(history[f"val_{key}"]) + 1), history[f"val_{key}"], label="validation")
            ax.legend(fontsize=8)
        ax.set_title(key)
        ax.set_xlabel("epoch")
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _as_display(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, np.float32)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    lo, hi = float(img.min()), float(img.max())
    if lo < 0.0 or hi > 1.0:  # standardized inputs: rescale for display
        img = (img - lo) / max(hi - lo, 1e-8)
    return np.clip(img, 0.0, 1.0)


def to_display_range(rows: dict[str, np.ndarray], reference: str = "input") -> dict[str, np.ndarray]:
    """Map every row into [0, 1] with the *same* affine map, the one that sends the ``reference``
    row's value range onto [0, 1] (identity for [0, 1] images), then clip.

    Use it when rows share one pixel space and their relative brightness matters (HybridNet's
    ``x, x̂_c, x̂_u, x̂``): per-image rescaling would blow up a faint partial reconstruction, and
    clipping standardized images to [0, 1] would drop their negative half.
    """
    ref = np.asarray(rows[reference], np.float32)
    lo, hi = min(float(ref.min()), 0.0), max(float(ref.max()), 1.0)
    return {k: np.clip((np.asarray(v, np.float32) - lo) / max(hi - lo, 1e-8), 0.0, 1.0) for k, v in rows.items()}


def image_grid_figure(rows: dict[str, np.ndarray], title: str = "", max_columns: int = 10) -> Figure:
    """A grid with one row per entry: ``{"input": x, "reconstruction": x_hat, ...}``.

    Each value is ``(N, H, W, C)`` images (or ``(N, L[, C])`` 1-D signals, drawn as curves).
    """
    names = list(rows)
    n = min(max_columns, min(len(v) for v in rows.values()))
    fig = Figure(figsize=(1.3 * n + 1.2, 1.35 * len(names) + 0.4))
    axes = fig.subplots(len(names), n, squeeze=False)
    for r, name in enumerate(names):
        for c in range(n):
            ax = axes[r, c]
            item = np.asarray(rows[name][c])
            if item.ndim <= 1 or (item.ndim == 2 and item.shape[-1] <= 3 and item.shape[0] > 3):
                ax.plot(item.reshape(item.shape[0], -1))
            else:
                ax.imshow(_as_display(item), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
