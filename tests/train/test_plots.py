"""Tests for fashion_models.train.plots: figures from small arrays, written to tmp_path."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from fashion_models.train.plots import confusion_matrix_figure

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cell_texts(fig: Figure) -> list[list[str]]:
    """The count printed in each cell, read back from the rendered axes."""
    ax = fig.axes[0]
    n = len(ax.get_xticklabels())
    texts = [text.get_text() for text in ax.texts]
    return [texts[i * n : (i + 1) * n] for i in range(n)]


def test_confusion_matrix_has_class_names_and_counts() -> None:
    y_true = np.array([0, 0, 1, 2, 3, 3, 3])
    y_pred = np.array([0, 1, 1, 2, 3, 3, 0])
    fig = confusion_matrix_figure(y_true, y_pred, CLASS_NAMES, title="trial 7")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASS_NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASS_NAMES
    assert all(t.get_rotation() == 45 for t in ax.get_xticklabels())
    assert ax.get_title() == "trial 7"
    assert cell_texts(fig) == [
        ["1", "1", "0", "0"],
        ["0", "1", "0", "0"],
        ["0", "0", "1", "0"],
        ["1", "0", "0", "2"],
    ]


def test_absent_classes_still_get_a_row_and_column() -> None:
    fig = confusion_matrix_figure([1, 1], [1, 1], CLASS_NAMES)
    assert cell_texts(fig)[1] == ["0", "2", "0", "0"]
    assert fig.axes[0].get_title() == ""


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([0, 1], [0, 4], r"y_pred must hold class ids in \[0, 4\)"),
        ([-1, 1], [0, 1], "y_true must hold class ids"),
        ([0, 1, 2], [0, 1], "same length"),
    ],
)
def test_bad_ids_raise(y_true: list[int], y_pred: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        confusion_matrix_figure(y_true, y_pred, CLASS_NAMES)


def test_no_pyplot_figures_are_left_open() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    confusion_matrix_figure([0, 1], [1, 0], CLASS_NAMES)
    assert plt.get_fignums() == before
    assert matplotlib.get_backend()  # a backend is available headless
