"""Test-set metrics beyond accuracy: scikit-learn's classification report, per-class scores."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import classification_report

from fashion_models.train.data import CLASS_NAMES


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
