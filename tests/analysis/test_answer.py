"""Cells from runs, and the answers chosen from them, on fixed numbers."""

from __future__ import annotations

from typing import Any

import pytest

from fashion_models.analysis.answer import Question, answer
from fashion_models.analysis.cells import Run, build_cells, find
from fashion_models.analysis.stats import EQUIVALENT, NO, UNDECIDED, YES

QUESTION = Question(factor="conv_layers", reference_level=2, reference_epochs=3)


def run(
    level: int,
    seed: int,
    test: list[float],
    val: list[float],
    secs: float,
    family: Any = None,
    cpu: float | None = None,
) -> Run:
    """A run whose per-epoch numbers are given; each epoch takes `secs` wall seconds (and
    `cpu` CPU seconds, when given)."""
    n = len(test)
    history = {
        "test_accuracy": test,
        "val_accuracy": val,
        "accuracy": [v + 0.05 for v in val],
        "test_loss": [1.0] * n,
        "val_loss": [1.0] * n,
        "loss": [1.0] * n,
        "train_seconds": [secs * (e + 1) for e in range(n)],
    }
    if cpu is not None:
        history["train_cpu_seconds"] = [cpu * (e + 1) for e in range(n)]
    return Run(level=level, seed=seed, param_count=1000 * level, history=history, family=family)


def reference_runs(family: Any = None, cpu: float | None = None) -> list[Run]:
    """Depth 2, 3 epochs of 10 s: test 0.80 / 0.85 / 0.88 (+ seed offsets)."""
    return [
        run(2, s, [0.80 + d, 0.85 + d, 0.88 + d], [0.80 + d, 0.85 + d, 0.88 + d], 10.0, family, cpu)
        for s, d in enumerate((0.0, 0.01, -0.01))
    ]


def test_cells_hold_the_first_epochs_of_each_run_by_seed() -> None:
    runs = [*reference_runs(), run(3, 0, [0.5], [0.5], 12.0)]  # a run that stopped early
    cells = build_cells(runs, levels=(2, 3), epochs=3)
    assert [(c.level, c.epochs, c.seeds) for c in cells] == [
        (2, 1, (0, 1, 2)), (2, 2, (0, 1, 2)), (2, 3, (0, 1, 2)), (3, 1, (0,)),
    ]  # fmt: skip
    second = find(cells, 2, 2)
    assert second is not None
    assert list(second.values["test_accuracy"]) == pytest.approx([0.85, 0.86, 0.84])
    assert list(second.values["train_seconds"]) == [20.0, 20.0, 20.0]
    assert "train_cpu_seconds" not in second.values  # not logged by these runs
    assert second.gap.mean == pytest.approx(0.05)


def test_a_deeper_cell_within_the_time_that_beats_the_reference_is_a_yes() -> None:
    # Depth 4 at 2 epochs (2 x 14 s = 28 s <= 30 s) beats the reference by 0.02 on every seed.
    deeper = [
        run(4, s, [0.86 + d, 0.90 + d, 0.91 + d], [0.86 + d, 0.90 + d, 0.91 + d], 14.0)
        for s, d in enumerate((0.0, 0.01, -0.01))
    ]
    result = answer(build_cells([*reference_runs(), *deeper], (2, 4), 3), QUESTION)
    [family] = result.families
    assert family.verdict == YES
    assert family.best is not None
    assert (family.best.cell.level, family.best.cell.epochs) == (4, 2)
    assert family.best.difference.mean == pytest.approx(0.02)
    assert family.sentence.startswith(
        "Yes: the best cell within the 30 s wall-clock of conv_layers = 2"
    )
    assert "conv_layers = 4 at 2 epochs (28 s wall-clock)" in family.sentence
    assert "+0.0200" in family.sentence
    assert "Train conv_layers = 4 at 2 epochs next" in result.advice


def test_the_best_cell_is_chosen_on_validation_never_on_test() -> None:
    # Depth 3 epoch 1 has the best test accuracy but the worse validation accuracy.
    deeper = [
        run(3, s, [0.95, 0.70], [0.60, 0.87], 9.0) for s in range(3)
    ]  # epoch 2: 18 s, within 30 s
    result = answer(build_cells([*reference_runs(), *deeper], (2, 3), 3), QUESTION)
    best = result.families[0].best
    assert best is not None and (best.cell.level, best.cell.epochs) == (3, 2)
    assert result.families[0].verdict == NO  # 0.70 against 0.88 on every seed


def test_no_other_level_within_the_time_is_a_no_with_the_reason() -> None:
    slow = [run(5, s, [0.99], [0.99], 31.0) for s in range(3)]  # one epoch is over 30 s
    result = answer(build_cells([*reference_runs(), *slow], (2, 5), 3), QUESTION)
    [family] = result.families
    assert family.verdict == NO and family.best is None
    assert family.sentence == (
        "No: no cell of another network trains within the 30 s wall-clock of conv_layers = 2 "
        "at 3 epochs."
    )


def test_a_difference_whose_interval_holds_zero_is_undecided() -> None:
    mixed = [
        run(3, s, [0.88 + d], [0.90], 20.0) for s, d in enumerate((0.02, -0.03, 0.0))
    ]  # against 0.88, 0.89, 0.87: differences +0.02, -0.04, +0.01
    result = answer(build_cells([*reference_runs(), *mixed], (2, 3), 3), QUESTION)
    assert result.families[0].verdict == UNDECIDED
    assert result.families[0].sentence.startswith("Not distinguishable at this sample size")


def test_a_missing_reference_cell_is_an_error() -> None:
    question = Question(factor="conv_layers", reference_level=2, reference_epochs=5)
    with pytest.raises(ValueError, match="reference cell"):
        answer(build_cells(reference_runs(), (2,), 3), question)


def test_each_family_gets_its_verdict_on_the_cpu_time_axis() -> None:
    """Two families; the budget is the reference's CPU seconds (30 s), whatever the wall
    clock said: a test suite beside a run slows its wall time, not its CPU time."""
    question = Question(
        factor="conv_layers", reference_level=2, reference_epochs=3, time_key="train_cpu_seconds",
        margin=0.003, family="conv_layout", reference_family="plain",
        families=("plain", "blocks"),
    )  # fmt: skip
    seeds = (0.0, 0.01, -0.01, 0.005, -0.005)
    up = lambda d, *acc: [a + d for a in acc]  # noqa: E731 - one seed's curve
    reference = [
        run(2, s, up(d, 0.80, 0.85, 0.88), up(d, 0.80, 0.85, 0.88), 10.0, "plain", 10.0)
        for s, d in enumerate(seeds)
    ]
    # plain 4: 3 epochs of 40 s wall (slowed by a neighbour) but 9 s CPU: within the budget;
    # the same as the reference, seed for seed, to 0.0001: equivalent within 0.3 points.
    plain = [
        run(4, s, up(d, 0.80, 0.85, 0.8801), up(d, 0.80, 0.85, 0.89), 40.0, "plain", 9.0)
        for s, d in enumerate(seeds)
    ]
    # blocks 2: 0.02 better at every epoch, 8 s CPU an epoch.
    blocks = [
        run(2, s, up(d, 0.82, 0.87, 0.90), up(d, 0.82, 0.87, 0.90), 8.0, "blocks", 8.0)
        for s, d in enumerate(seeds)
    ]
    cells = build_cells([*reference, *plain, *blocks], (2, 4), 3, ("plain", "blocks"))
    result = answer(cells, question)
    verdicts = {a.family: a.verdict for a in result.families}
    assert verdicts == {"plain": EQUIVALENT, "blocks": YES}
    plain_best = result.families[0].best
    assert plain_best is not None and plain_best.cell.network == ("plain", 4)
    assert plain_best.tost < 0.05
    assert result.families[0].sentence.startswith("Equivalent within ±0.3 points:")
    assert "(27 s CPU)" in result.families[0].sentence
    # The reference's own epochs: 2 epochs are worse by 0.03 on every seed.
    assert result.epochs is not None and result.epochs.verdict == NO
    assert "saves 33% of its training time (20 s CPU instead of 30 s CPU)" in result.epochs_sentence
    assert "Train conv_layout blocks" not in result.advice  # names the network, not the key
    assert "Train blocks, conv_layers = 2 at 3 epochs next" in result.advice
