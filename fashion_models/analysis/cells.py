"""From runs (one per network and seed, each with its per-epoch history) to the cells of the
design: (family, level, epochs) with the per-seed values of the first `epochs` epochs."""

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
# Kept where every run of the cell has it (runs from before it was logged have not).
OPTIONAL_METRICS = ("train_cpu_seconds",)


@dataclass(frozen=True)
class Run:
    """One training run of the design: its network (family and factor level), seed, size
    and per-epoch history."""

    level: Any
    seed: int
    param_count: int
    history: Mapping[str, Sequence[float]]
    family: Any = None  # the design's family factor's value; None: a one-family design


@dataclass(frozen=True)
class Cell:
    """(family, level, epochs): each metric's value after `epochs` epochs, one per seed."""

    level: Any
    epochs: int
    seeds: tuple[int, ...]
    values: Mapping[str, np.ndarray]
    param_count: int
    family: Any = None

    def summary(self, metric: str) -> Summary:
        return summarize(self.values[metric])

    def mean(self, metric: str) -> float:
        return float(self.values[metric].mean())

    @property
    def network(self) -> tuple[Any, Any]:
        return (self.family, self.level)

    @property
    def gap(self) -> Summary:
        """Train minus validation accuracy: how much the cell overfits."""
        return summarize(self.values["accuracy"] - self.values["val_accuracy"])


def network_name(family: Any, level: Any, factor: str) -> str:
    """`blocks, conv_layers = 4` (or `conv_layers = 4` in a one-family design)."""
    return f"{factor} = {level}" if family is None else f"{family}, {factor} = {level}"


def build_cells(
    runs: Sequence[Run], levels: Sequence[Any], epochs: int, families: Sequence[Any] = (None,)
) -> list[Cell]:
    """Every (family, level, e) for e in 1..epochs with at least one run; runs shorter than e
    (a failed or interrupted run) are left out of the cells they did not reach."""
    out = []
    for family in families:
        for level in levels:
            mine = sorted(
                (r for r in runs if r.family == family and r.level == level), key=lambda r: r.seed
            )
            kept = [m for m in OPTIONAL_METRICS if mine and all(m in r.history for r in mine)]
            for e in range(1, epochs + 1):
                names = (*METRICS, *kept)
                reached = [r for r in mine if all(len(r.history[m]) >= e for m in names)]
                if not reached:
                    continue
                values = {m: np.array([r.history[m][e - 1] for r in reached]) for m in names}
                seeds = tuple(r.seed for r in reached)
                out.append(Cell(level, e, seeds, values, reached[0].param_count, family))
    return out


def find(cells: Sequence[Cell], level: Any, epochs: int, family: Any = None) -> Cell | None:
    return next((c for c in cells if c.network == (family, level) and c.epochs == epochs), None)
