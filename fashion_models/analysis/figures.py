"""The design's figures, from its cells (canvas.new_figure: an Agg canvas, no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fashion_models.analysis.answer import Answer
from fashion_models.analysis.cells import Cell
from fashion_models.canvas import new_figure


def _levels(cells: Sequence[Cell]) -> list[object]:
    return list(dict.fromkeys(c.level for c in cells))


def accuracy_vs_epochs(cells: Sequence[Cell], answer: Answer) -> Figure:
    """Validation and test accuracy against epochs, one line per level, bands of +-1 sd."""
    fig = new_figure(12, 5)
    ref = answer.reference
    for slot, metric in enumerate(("val_accuracy", "test_accuracy")):
        ax = fig.add_subplot(1, 2, slot + 1)
        for level in _levels(cells):
            mine = [c for c in cells if c.level == level]
            e = np.array([c.epochs for c in mine])
            mean = np.array([c.values[metric].mean() for c in mine])
            sd = np.array([c.summary(metric).sd for c in mine])
            ax.plot(e, mean, marker="o", label=f"{answer.factor} = {level}")
            ax.fill_between(e, mean - np.nan_to_num(sd), mean + np.nan_to_num(sd), alpha=0.2)
        ax.plot([ref.epochs], [ref.values[metric].mean()], "k*", markersize=14, label="reference")
        ax.set_xlabel("epochs")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{metric} (mean over seeds, band: +-1 sd)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def accuracy_vs_time(cells: Sequence[Cell], answer: Answer) -> Figure:
    """Test accuracy against training seconds per cell; the reference marked, the Pareto front
    (the best accuracy reached in at most that time) drawn, the reference's time dashed."""
    fig = new_figure(8, 6)
    ax = fig.add_subplot()
    t = np.array([c.values["train_seconds"].mean() for c in cells])
    acc = np.array([c.values["test_accuracy"].mean() for c in cells])
    for level in _levels(cells):
        pick = np.array([c.level == level for c in cells])
        ax.scatter(t[pick], acc[pick], label=f"{answer.factor} = {level}", s=25)
    order = np.argsort(t)
    front = np.maximum.accumulate(acc[order])
    ax.step(t[order], front, where="post", color="k", lw=1, label="Pareto front")
    ref = answer.reference
    ref_label = f"reference ({answer.factor} = {ref.level}, {ref.epochs} epochs)"
    ref_point = (ref.values["train_seconds"].mean(), ref.values["test_accuracy"].mean())
    ax.plot(*ref_point, "k*", markersize=16, label=ref_label)
    ax.axvline(answer.reference_seconds, color="k", ls="--", lw=0.8)
    if answer.best is not None:
        b = answer.best
        point = (b.values["train_seconds"].mean(), b.values["test_accuracy"].mean())
        ax.annotate(
            f"best within the time: {b.level}, {b.epochs} epochs",
            point,
            xytext=(10, -20),
            textcoords="offset points",
            fontsize=8,
            arrowprops={"arrowstyle": "->"},
        )
    ax.set_xlabel("training seconds (mean over seeds)")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def overfitting_gap(cells: Sequence[Cell], answer: Answer) -> Figure:
    """Train minus validation accuracy per cell (mean over seeds): where the model overfits."""
    levels = _levels(cells)
    epochs = sorted({c.epochs for c in cells})
    gap = np.full((len(levels), len(epochs)), np.nan)
    for c in cells:
        gap[levels.index(c.level), epochs.index(c.epochs)] = c.gap.mean
    fig = new_figure(1.0 + 0.8 * len(epochs), 1.5 + 0.6 * len(levels))
    ax = fig.add_subplot()
    image = ax.imshow(gap, cmap="Reds", aspect="auto")
    for (i, j), value in np.ndenumerate(gap):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
    ax.set_yticks(range(len(levels)), [str(v) for v in levels])
    ax.set_xlabel("epochs")
    ax.set_ylabel(answer.factor)
    ax.set_title("train - validation accuracy (mean over seeds)")
    fig.colorbar(image, ax=ax)
    return fig


FIGURES = {
    "accuracy_vs_epochs.png": accuracy_vs_epochs,
    "accuracy_vs_time.png": accuracy_vs_time,
    "overfitting_gap.png": overfitting_gap,
}
