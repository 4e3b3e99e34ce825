"""The design's figures, from its cells (canvas.new_figure: an Agg canvas, no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fashion_models.analysis.answer import TIME_NAMES, Answers
from fashion_models.analysis.cells import Cell, network_name
from fashion_models.canvas import new_figure


def _networks(cells: Sequence[Cell]) -> list[tuple[Any, Any]]:
    return list(dict.fromkeys(c.network for c in cells))


def _label(network: tuple[Any, Any], answers: Answers) -> str:
    return network_name(*network, answers.question.factor)


def accuracy_vs_epochs(cells: Sequence[Cell], answers: Answers) -> Figure:
    """Validation and test accuracy against epochs, one line per network, bands of +-1 sd."""
    fig = new_figure(12, 5)
    ref = answers.reference
    for slot, metric in enumerate(("val_accuracy", "test_accuracy")):
        ax = fig.add_subplot(1, 2, slot + 1)
        for network in _networks(cells):
            mine = [c for c in cells if c.network == network]
            e = np.array([c.epochs for c in mine])
            mean = np.array([c.mean(metric) for c in mine])
            sd = np.array([c.summary(metric).sd for c in mine])
            ax.plot(e, mean, marker="o", label=_label(network, answers))
            ax.fill_between(e, mean - np.nan_to_num(sd), mean + np.nan_to_num(sd), alpha=0.2)
        ax.plot([ref.epochs], [ref.mean(metric)], "k*", markersize=14, label="reference")
        ax.set_xlabel("epochs")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{metric} (mean over seeds, band: +-1 sd)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def accuracy_vs_time(cells: Sequence[Cell], answers: Answers) -> Figure:
    """Test accuracy against training seconds per cell; the reference marked, the Pareto front
    (the best accuracy reached in at most that time) drawn, the reference's time dashed."""
    key = answers.question.time_key
    fig = new_figure(8, 6)
    ax = fig.add_subplot()
    t = np.array([c.mean(key) for c in cells])
    acc = np.array([c.mean("test_accuracy") for c in cells])
    for network in _networks(cells):
        pick = np.array([c.network == network for c in cells])
        ax.scatter(t[pick], acc[pick], label=_label(network, answers), s=25)
    order = np.argsort(t)
    front = np.maximum.accumulate(acc[order])
    ax.step(t[order], front, where="post", color="k", lw=1, label="Pareto front")
    ref = answers.reference
    ref_label = f"reference ({answers.question.name(ref)})"
    ax.plot(ref.mean(key), ref.mean("test_accuracy"), "k*", markersize=16, label=ref_label)
    ax.axvline(answers.budget, color="k", ls="--", lw=0.8)
    for answer in answers.families:
        if answer.best is None:
            continue
        b = answer.best.cell
        ax.annotate(
            f"best within the time: {answers.question.name(b)}",
            (b.mean(key), b.mean("test_accuracy")),
            xytext=(10, -20),
            textcoords="offset points",
            fontsize=8,
            arrowprops={"arrowstyle": "->"},
        )
    ax.set_xlabel(f"training seconds, {TIME_NAMES.get(key, key)} (mean over seeds)")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def overfitting_gap(cells: Sequence[Cell], answers: Answers) -> Figure:
    """Train minus validation accuracy per cell (mean over seeds): where the model overfits."""
    networks = _networks(cells)
    epochs = sorted({c.epochs for c in cells})
    gap = np.full((len(networks), len(epochs)), np.nan)
    for c in cells:
        gap[networks.index(c.network), epochs.index(c.epochs)] = c.gap.mean
    fig = new_figure(2.5 + 0.8 * len(epochs), 1.5 + 0.6 * len(networks))
    ax = fig.add_subplot()
    image = ax.imshow(gap, cmap="Reds", aspect="auto")
    for (i, j), value in np.ndenumerate(gap):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
    ax.set_yticks(range(len(networks)), [_label(n, answers) for n in networks])
    ax.set_xlabel("epochs")
    ax.set_title("train - validation accuracy (mean over seeds)")
    fig.colorbar(image, ax=ax)
    return fig


FIGURES = {
    "accuracy_vs_epochs.png": accuracy_vs_epochs,
    "accuracy_vs_time.png": accuracy_vs_time,
    "overfitting_gap.png": overfitting_gap,
}
