"""Cells from runs, and the answer chosen from them, on fixed numbers."""

from __future__ import annotations

import pytest

from fashion_models.analysis.answer import answer
from fashion_models.analysis.cells import Run, build_cells, find
from fashion_models.analysis.stats import NO, UNDECIDED, YES


def run(level: int, seed: int, test: list[float], val: list[float], secs: float) -> Run:
    """A run whose per-epoch numbers are given; each epoch takes `secs` seconds."""
    n = len(test)
    return Run(
        level=level,
        seed=seed,
        param_count=1000 * level,
        history={
            "test_accuracy": test,
            "val_accuracy": val,
            "accuracy": [v + 0.05 for v in val],
            "test_loss": [1.0] * n,
            "val_loss": [1.0] * n,
            "loss": [1.0] * n,
            "train_seconds": [secs * (e + 1) for e in range(n)],
        },
    )


def reference_runs() -> list[Run]:
    """Depth 2, 3 epochs of 10 s: test 0.80 / 0.85 / 0.88 (+ seed offsets)."""
    return [
        run(2, s, [0.80 + d, 0.85 + d, 0.88 + d], [0.80 + d, 0.85 + d, 0.88 + d], 10.0)
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
    assert second.gap.mean == pytest.approx(0.05)


def test_a_deeper_cell_within_the_time_that_beats_the_reference_is_a_yes() -> None:
    # Depth 4 at 2 epochs (2 x 14 s = 28 s <= 30 s) beats the reference by 0.02 on every seed.
    deeper = [
        run(4, s, [0.86 + d, 0.90 + d, 0.91 + d], [0.86 + d, 0.90 + d, 0.91 + d], 14.0)
        for s, d in enumerate((0.0, 0.01, -0.01))
    ]
    result = answer(build_cells([*reference_runs(), *deeper], (2, 4), 3), "conv_layers", 2, 3)
    assert result.verdict == YES
    assert result.best is not None and (result.best.level, result.best.epochs) == (4, 2)
    assert result.difference is not None and result.difference.mean == pytest.approx(0.02)
    assert result.sentence.startswith("Yes: the best cell within the 30 s of conv_layers = 2")
    assert "conv_layers = 4 at 2 epochs (28 s)" in result.sentence
    assert "+0.0200" in result.sentence


def test_the_best_cell_is_chosen_on_validation_never_on_test() -> None:
    # Depth 3 epoch 1 has the best test accuracy but the worse validation accuracy.
    deeper = [
        run(3, s, [0.95, 0.70], [0.60, 0.87], 9.0) for s in range(3)
    ]  # epoch 2: 18 s, within 30 s
    result = answer(build_cells([*reference_runs(), *deeper], (2, 3), 3), "conv_layers", 2, 3)
    assert result.best is not None and (result.best.level, result.best.epochs) == (3, 2)
    assert result.verdict == NO  # 0.70 against 0.88 on every seed


def test_no_other_level_within_the_time_is_a_no_with_the_reason() -> None:
    slow = [run(5, s, [0.99], [0.99], 31.0) for s in range(3)]  # one epoch is over 30 s
    result = answer(build_cells([*reference_runs(), *slow], (2, 5), 3), "conv_layers", 2, 3)
    assert result.verdict == NO and result.best is None
    assert result.sentence == (
        "No: no cell with conv_layers other than 2 trains within the 30 s of "
        "conv_layers = 2 at 3 epochs."
    )


def test_a_difference_whose_interval_holds_zero_is_undecided() -> None:
    mixed = [
        run(3, s, [0.88 + d], [0.90], 20.0) for s, d in enumerate((0.02, -0.03, 0.0))
    ]  # against 0.88, 0.89, 0.87: differences +0.02, -0.04, +0.01
    result = answer(build_cells([*reference_runs(), *mixed], (2, 3), 3), "conv_layers", 2, 3)
    assert result.verdict == UNDECIDED
    assert result.sentence.startswith("Not distinguishable at this sample size")


def test_a_missing_reference_cell_is_an_error() -> None:
    with pytest.raises(ValueError, match="reference cell"):
        answer(build_cells(reference_runs(), (2,), 3), "conv_layers", 2, 5)
