"""From runs (one per factor level and seed, each with its per-epoch history) to the cells of
the design: (level, epochs) with the per-seed values of the first `epochs` epochs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashion_models.analysis.stats import Summary, summarize

# Per-epoch numbers a cell keeps, by the name of the run's history key.
METRICS = (
    "test_accuracy", "val_accuracy", "accuracy", "test_loss", "val_loss", "loss", "train_seconds",
)  # fmt: skip


@dataclass(frozen=True)
class Run:
    """One training run of the design: its factor level, seed, size and per-epoch history."""

    level: Any
    seed: int
    param_count: int
    history: Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class Cell:
    """(level, epochs): each metric's value after `epochs` epochs, one per seed, by seed."""

    level: Any
    epochs: int
    seeds: tuple[int, ...]
    values: Mapping[str, np.ndarray]
    param_count: int

    def summary(self, metric: str) -> Summary:
        return summarize(self.values[metric])

    @property
    def gap(self) -> Summary:
        """Train minus validation accuracy: how much the cell overfits."""
        return summarize(self.values["accuracy"] - self.values["val_accuracy"])


def build_cells(runs: Sequence[Run], levels: Sequence[Any], epochs: int) -> list[Cell]:
    """Every (level, e) for e in 1..epochs with at least one run; runs shorter than e (a
    failed or interrupted run) are left out of the cells they did not reach."""
    out = []
    for level in levels:
        mine = sorted((r for r in runs if r.level == level), key=lambda r: r.seed)
        for e in range(1, epochs + 1):
            reached = [r for r in mine if all(len(r.history[m]) >= e for m in METRICS)]
            if not reached:
                continue
            values = {m: np.array([r.history[m][e - 1] for r in reached]) for m in METRICS}
            seeds = tuple(r.seed for r in reached)
            out.append(Cell(level, e, seeds, values, reached[0].param_count))
    return out


def find(cells: Sequence[Cell], level: Any, epochs: int) -> Cell | None:
    return next((c for c in cells if c.level == level and c.epochs == epochs), None)
