"""Figures as pure functions of arrays.

Figures are built by ``canvas.new_figure`` (a Figure on its own Agg canvas), never through
pyplot, so worker processes keep no global figure state and need no display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from fashion_models.canvas import new_figure
from fashion_models.errors import TrialError
from fashion_models.train.data import CLASS_NAMES

GRID_SIZE = 25  # misclassified images shown: a 5 x 5 grid stays readable


class FigureError(TrialError, ValueError):
    """The arrays cannot make the figure (lengths differ, class ids out of range)."""


def confusion_matrix_figure(
    y_true: np.ndarray | Sequence[int],
    y_pred: np.ndarray | Sequence[int],
    class_names: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """Confusion matrix of counts; true classes down, predicted across, named on both axes."""
    true, pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    n = len(class_names)
    if true.shape != pred.shape:
        raise FigureError(
            f"y_true and y_pred must have the same length, got {true.shape} and {pred.shape}."
        )
    # confusion_matrix silently drops ids outside `labels`; a miscount would go unnoticed.
    for name, ids in (("y_true", true), ("y_pred", pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise FigureError(
                f"{name} must hold class ids in [0, {n}) for {n} class names, "
                f"but got values in [{ids.min()}, {ids.max()}]."
            )
    counts = confusion_matrix(true, pred, labels=list(range(n)))
    size = 2.0 + 0.6 * n
    fig = new_figure(size + 1.0, size)
    ax = fig.add_subplot()
    display = ConfusionMatrixDisplay(counts, display_labels=list(class_names))
    display.plot(ax=ax, cmap="Blues", values_format="d", xticks_rotation=45, colorbar=True)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    if title is not None:
        ax.set_title(title)
    return fig


def misclassified_figure(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str] = CLASS_NAMES,
    limit: int = GRID_SIZE,
) -> Figure:
    """The first `limit` misclassified images, each titled with its true and predicted class."""
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:limit]
    cols = 5
    rows = max(1, -(-len(wrong) // cols))
    fig = new_figure(2.2 * cols, 2.4 * rows)
    if len(wrong) == 0:
        fig.text(0.5, 0.5, "no misclassified test images", ha="center", va="center")
        return fig
    for slot, index in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, slot + 1)
        ax.imshow(np.asarray(images[index]).reshape(28, 28), cmap="gray_r")
        ax.set_title(
            f"true: {class_names[int(y_true[index])]}\npred: {class_names[int(y_pred[index])]}",
            fontsize=8,
        )
        ax.axis("off")
    fig.suptitle(f"Misclassified test images (first {len(wrong)})")
    return fig


def training_curves_figure(history: Mapping[str, Sequence[float]]) -> Figure:
    """Loss and accuracy per epoch, training and validation, side by side."""
    fig = new_figure(10, 4)
    for slot, metric in enumerate(("loss", "accuracy")):
        ax = fig.add_subplot(1, 2, slot + 1)
        for name in (metric, f"val_{metric}"):
            values = list(history.get(name, []))
            if values:
                ax.plot(range(len(values)), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    return fig


def model_summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=100)
    return "\n".join(lines) + f"\nTotal parameters: {model.count_params():,}\n"
