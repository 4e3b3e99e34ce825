"""Figures as pure functions of arrays.

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas, never through
pyplot, so worker processes keep no global figure state and need no display.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix


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
        raise ValueError(
            f"y_true and y_pred must have the same length, got {true.shape} and {pred.shape}."
        )
    # confusion_matrix silently drops ids outside `labels`; a miscount would go unnoticed.
    for name, ids in (("y_true", true), ("y_pred", pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(
                f"{name} must hold class ids in [0, {n}) for {n} class names, "
                f"but got values in [{ids.min()}, {ids.max()}]."
            )
    counts = confusion_matrix(true, pred, labels=list(range(n)))
    size = 2.0 + 0.6 * n
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    display = ConfusionMatrixDisplay(counts, display_labels=list(class_names))
    display.plot(ax=ax, cmap="Blues", values_format="d", xticks_rotation=45, colorbar=True)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    if title is not None:
        ax.set_title(title)
    return fig
