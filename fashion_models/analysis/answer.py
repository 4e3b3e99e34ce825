"""The answers to a design's question, from the numbers.

For each family: the best cell of another network that trains in no more time than the
reference cell (chosen on validation accuracy, never on test), its paired test-accuracy
difference from the reference, and one of four verdicts. For the reference network itself:
its best epoch count (chosen the same way) against the reference's. Then what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashion_models.analysis.cells import Cell, find, network_name
from fashion_models.analysis.stats import (
    EQUIVALENT,
    NO,
    YES,
    Summary,
    paired_difference,
    seconds,
    tost_p,
    verdict,
    verdict_text,
)

TIME_NAMES = {"train_cpu_seconds": "CPU", "train_seconds": "wall-clock"}


def epoch_count(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Question:
    """What the design asks: the factor (and family), the reference, the time axis, the
    equivalence margin."""

    factor: str
    reference_level: Any
    reference_epochs: int
    time_key: str = "train_seconds"
    margin: float | None = None
    family: str | None = None
    reference_family: Any = None
    families: tuple[Any, ...] = (None,)

    def network(self, cell: Cell) -> str:
        return network_name(cell.family, cell.level, self.factor)

    def name(self, cell: Cell) -> str:
        return f"{self.network(cell)} at {epoch_count(cell.epochs)}"

    def seconds(self, value: float) -> str:
        """Training time on the question's axis: `27 s CPU`, `28 s wall-clock`."""
        return f"{seconds(value)} {TIME_NAMES.get(self.time_key, '')}".strip()

    def took(self, cell: Cell) -> str:
        return self.seconds(cell.mean(self.time_key))


@dataclass(frozen=True)
class Comparison:
    """One cell against the reference, paired by training seed."""

    cell: Cell
    difference: Summary  # cell - reference test accuracy: mean and 95% interval
    tost: float  # the equivalence test's p-value (nan without a margin or spread)
    verdict: str


@dataclass(frozen=True)
class Answer:
    """The answer for one family (all networks in a one-family design)."""

    family: Any
    best: Comparison | None  # None: no cell of the family trains within the budget
    sentence: str

    @property
    def verdict(self) -> str:
        return self.best.verdict if self.best is not None else NO


@dataclass(frozen=True)
class Answers:
    question: Question
    reference: Cell
    budget: float  # the reference cell's mean training time (time_key)
    families: tuple[Answer, ...]
    epochs: Comparison | None  # the reference network at its best epoch count, if fewer
    epochs_sentence: str
    advice: str


def answer(cells: Sequence[Cell], question: Question) -> Answers:
    q = question
    reference = find(cells, q.reference_level, q.reference_epochs, q.reference_family)
    if reference is None:
        named = network_name(q.reference_family, q.reference_level, q.factor)
        raise ValueError(f"no run reached the reference cell {named}, {q.reference_epochs} epochs")
    budget = reference.mean(q.time_key)
    within = [c for c in cells if c.mean(q.time_key) <= budget]
    families = tuple(_family(within, reference, budget, q, f) for f in q.families)
    shorter = [c for c in within if c.network == reference.network and c.epochs < reference.epochs]
    fewer = _compare(_best(shorter), reference, q) if shorter else None
    epochs_sentence = _epochs_sentence(fewer, reference, q)
    advice = _advice(within, reference, budget, families, fewer, q)
    return Answers(q, reference, budget, families, fewer, epochs_sentence, advice)


def _best(cells: Sequence[Cell]) -> Cell:
    """Chosen on validation accuracy: the test set chooses nothing."""
    return max(cells, key=lambda c: c.mean("val_accuracy"))


def _compare(cell: Cell, reference: Cell, q: Question) -> Comparison:
    shared = sorted(set(cell.seeds) & set(reference.seeds))
    pick = lambda c: np.array([c.values["test_accuracy"][c.seeds.index(s)] for s in shared])  # noqa: E731
    d = paired_difference(pick(cell), pick(reference))
    p = tost_p(d, q.margin) if q.margin is not None else float("nan")
    return Comparison(cell, d, p, verdict(d, q.margin))


def _family(
    within: Sequence[Cell], reference: Cell, budget: float, q: Question, family: Any
) -> Answer:
    rivals = [c for c in within if c.family == family and c.network != reference.network]
    ref_name = q.name(reference)
    which = "another network" if family is None else f"family {family}"
    if not rivals:
        sentence = f"No: no cell of {which} trains within the {q.seconds(budget)} of {ref_name}."
        return Answer(family, None, sentence)
    comparison = _compare(_best(rivals), reference, q)
    return Answer(family, comparison, _sentence(comparison, reference, budget, q))


def _head(outcome: str, margin: float | None) -> str:
    if outcome == YES:
        return "Yes"
    if outcome == NO:
        return "No"
    if outcome == EQUIVALENT:
        return verdict_text(outcome, margin).capitalize()
    return "Not distinguishable at this sample size"


def _difference(c: Comparison) -> str:
    d = c.difference
    return (
        f"a paired difference of {d.mean:+.4f} (95% CI {d.low:+.4f} to {d.high:+.4f}, {d.n} seeds)"
    )


def _sentence(c: Comparison, reference: Cell, budget: float, q: Question) -> str:
    return (
        f"{_head(c.verdict, q.margin)}: the best cell within the {q.seconds(budget)} of "
        f"{q.name(reference)}, {q.name(c.cell)} ({q.took(c.cell)}), reaches "
        f"{c.cell.mean('test_accuracy'):.4f} test accuracy against "
        f"{reference.mean('test_accuracy'):.4f}, {_difference(c)}."
    )


def _saving(cell: Cell, reference: Cell, q: Question) -> str:
    saved = 1.0 - cell.mean(q.time_key) / reference.mean(q.time_key)
    return f"{saved:.0%} of its training time ({q.took(cell)} instead of {q.took(reference)})"


def _epochs_sentence(c: Comparison | None, reference: Cell, q: Question) -> str:
    if c is None:
        return f"{q.name(reference)} has no shorter cell to compare."
    return (
        f"{_head(c.verdict, q.margin)}: {q.network(reference)} is best at "
        f"{epoch_count(c.cell.epochs)} by validation accuracy; there it reaches "
        f"{c.cell.mean('test_accuracy'):.4f} test accuracy against "
        f"{reference.mean('test_accuracy'):.4f} at {reference.epochs}, {_difference(c)}, "
        f"and saves {_saving(c.cell, reference, q)}."
    )


def _advice(
    within: Sequence[Cell],
    reference: Cell,
    budget: float,
    families: Sequence[Answer],
    shorter: Comparison | None,
    q: Question,
) -> str:
    """The 'what to do' paragraph: three statements, each generated from the numbers."""
    best = _best(within)
    overall = _compare(best, reference, q) if best is not reference else None
    first = (
        f"Within the {q.seconds(budget)} of {q.name(reference)}, the most accurate cell by "
        f"validation accuracy is "
        + (
            f"{q.name(best)}: {best.mean('test_accuracy'):.4f} test accuracy against "
            f"{reference.mean('test_accuracy'):.4f} "
            f"({verdict_text(overall.verdict, q.margin)}; {_difference(overall)})."
            if overall is not None
            else f"the reference itself ({best.mean('test_accuracy'):.4f} test accuracy)."
        )
    )
    if shorter is None:
        second = f"{q.name(reference)} has no shorter cell to compare."
    else:
        second = (
            f"The reference network is best at {epoch_count(shorter.cell.epochs)} "
            f"({verdict_text(shorter.verdict, q.margin)} against {reference.epochs}), which "
            f"saves {_saving(shorter.cell, reference, q)}."
        )
    winners = [a.best for a in families if a.best is not None and a.best.verdict == YES]
    if winners:
        pick = max(winners, key=lambda c: c.cell.mean("val_accuracy"))
        third = f"Train {q.name(pick.cell)} next: it beats the reference in no more training time."
    elif shorter is not None and shorter.verdict in (YES, EQUIVALENT):
        word = "beats" if shorter.verdict == YES else "matches"
        third = (
            f"Train the reference network for {epoch_count(shorter.cell.epochs)} instead of "
            f"{reference.epochs}: it {word} the longer run at "
            f"{1 - shorter.cell.mean(q.time_key) / reference.mean(q.time_key):.0%} less "
            "training time, and no deeper network beats the reference within its time."
        )
    else:
        third = (
            f"Keep {q.name(reference)}: neither a deeper network nor fewer epochs beats it "
            "within its time at this sample size."
        )
    return " ".join((first, second, third))
