"""What a run holds beyond its metrics: classification report, per-class metrics, confusion
matrix, misclassified test images, training curves, the model summary. Writes to the active
MLflow run; the figures themselves are drawn in train/plots.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import mlflow
import numpy as np

from fashion_models.train.data import CLASS_NAMES
from fashion_models.train.metrics import classification_report_of, per_class_metrics
from fashion_models.train.plots import (
    confusion_matrix_figure,
    misclassified_figure,
    model_summary_text,
    training_curves_figure,
)


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


def log_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    fig = confusion_matrix_figure(y_true, y_pred, CLASS_NAMES, title="Test set")
    mlflow.log_figure(fig, "confusion_matrix.png")
