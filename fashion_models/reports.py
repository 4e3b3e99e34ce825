"""What a trial run holds beyond the spine: classification report, per-class metrics, a grid of
misclassified test images, training curves, the model summary.

Figures are pure functions of arrays (Agg canvas, no pyplot, as in plots.py); `log_*` write to
the active MLflow run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import mlflow
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import classification_report

from fashion_models.data import CLASS_NAMES

GRID_SIZE = 25  # misclassified images shown: a 5 x 5 grid stays readable


def class_slug(name: str) -> str:
    """'T-shirt/top' -> 't_shirt_top': a metric-name-safe class name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def classification_report_of(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> tuple[dict[str, Any], str]:
    """scikit-learn's report as a dict (for JSON and metrics) and as text, every class listed."""
    kwargs: dict[str, Any] = {
        "labels": list(range(len(class_names))),
        "target_names": list(class_names),
        "zero_division": 0,
    }
    as_dict = classification_report(y_true, y_pred, output_dict=True, **kwargs)
    text = classification_report(y_true, y_pred, digits=4, **kwargs)
    return as_dict, str(text)


def per_class_metrics(
    report: Mapping[str, Any], class_names: Sequence[str] = CLASS_NAMES
) -> dict[str, float]:
    """`test_precision_<class>`, `test_recall_<class>`, `test_f1_<class>` for every class."""
    out: dict[str, float] = {}
    for name in class_names:
        row = report[name]
        for key, short in (("precision", "precision"), ("recall", "recall"), ("f1-score", "f1")):
            out[f"test_{short}_{class_slug(name)}"] = float(row[key])
    out["test_macro_f1"] = float(report["macro avg"]["f1-score"])
    return out


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
    fig = Figure(figsize=(2.2 * cols, 2.4 * rows), layout="constrained")
    FigureCanvasAgg(fig)
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
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
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


class HistoryRecorder(keras.callbacks.Callback):
    """Per-epoch logs kept in memory, so a pruned trial (whose fit raised) still has curves."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))


def log_model_summary(model: keras.Model) -> None:
    mlflow.log_text(model_summary_text(model), "model_summary.txt")
    mlflow.log_metric("param_count", float(model.count_params()))


def log_curves(history: Mapping[str, Sequence[float]]) -> None:
    if history:
        mlflow.log_figure(training_curves_figure(history), "training_curves.png")


def log_test_reports(x_test: np.ndarray, y_test: np.ndarray, y_pred: np.ndarray) -> None:
    """Classification report (JSON and text), per-class metrics, misclassified grid."""
    report, text = classification_report_of(y_test, y_pred)
    mlflow.log_dict(report, "classification_report.json")
    mlflow.log_text(text, "classification_report.txt")
    mlflow.log_metrics(per_class_metrics(report))
    mlflow.log_figure(misclassified_figure(x_test, y_test, y_pred), "misclassified.png")


def log_pruned(epoch: int | None, history: Mapping[str, Sequence[float]]) -> None:
    """A pruned trial: the step (epoch, 0-based) it was pruned at, and its curves so far."""
    if epoch is not None:
        mlflow.log_metric("pruned_at_step", float(epoch))
    log_curves(history)
