"""The answer to a design's question, from the numbers: the best cell of another factor level
that trains in no more time than the reference cell (chosen on validation accuracy, never on
test), its paired test-accuracy difference from the reference, and the verdict in a sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashion_models.analysis.cells import Cell, find
from fashion_models.analysis.stats import (
    NO,
    YES,
    Summary,
    paired_difference,
    seconds,
    verdict,
)


@dataclass(frozen=True)
class Answer:
    factor: str
    reference: Cell
    reference_seconds: float  # mean training seconds of the reference cell
    best: Cell | None  # None: no cell of another level trains within reference_seconds
    difference: Summary | None  # best - reference test accuracy, paired by seed
    verdict: str
    sentence: str


def answer(cells: Sequence[Cell], factor: str, reference_level: Any, epochs: int) -> Answer:
    reference = find(cells, reference_level, epochs)
    if reference is None:
        raise ValueError(f"no run reached the reference cell {factor}={reference_level}, {epochs}")
    budget = float(reference.values["train_seconds"].mean())
    rivals = [
        c
        for c in cells
        if c.level != reference_level and float(c.values["train_seconds"].mean()) <= budget
    ]
    name = f"{factor} = {reference_level} at {epochs} epochs"
    if not rivals:
        sentence = (
            f"No: no cell with {factor} other than {reference_level} trains within the "
            f"{seconds(budget)} of {name}."
        )
        return Answer(factor, reference, budget, None, None, NO, sentence)
    best = max(rivals, key=lambda c: float(c.values["val_accuracy"].mean()))
    difference = _paired(best, reference)
    outcome = verdict(difference)
    return Answer(factor, reference, budget, best, difference, outcome, _sentence(
        factor, best, reference, name, budget, difference, outcome
    ))  # fmt: skip


def _paired(best: Cell, reference: Cell) -> Summary:
    shared = sorted(set(best.seeds) & set(reference.seeds))
    pick = lambda c: np.array([c.values["test_accuracy"][c.seeds.index(s)] for s in shared])  # noqa: E731
    return paired_difference(pick(best), pick(reference))


def _sentence(
    factor: str,
    best: Cell,
    reference: Cell,
    name: str,
    budget: float,
    d: Summary,
    outcome: str,
) -> str:
    took = seconds(float(best.values["train_seconds"].mean()))
    head = {YES: "Yes", NO: "No"}.get(outcome, "Not distinguishable at this sample size")
    return (
        f"{head}: the best cell within the {seconds(budget)} of {name}, {factor} = {best.level} "
        f"at {best.epochs} epochs ({took}), reaches "
        f"{best.values['test_accuracy'].mean():.4f} test accuracy against "
        f"{reference.values['test_accuracy'].mean():.4f}, a paired difference of "
        f"{d.mean:+.4f} (95% CI {d.low:+.4f} to {d.high:+.4f}, {d.n} seeds)."
    )
