"""Tests for fashion_models.search.pareto_pruning: when a trial of a multi-objective study is
behind the trials that cost no more, asked of a real Optuna study holding real trials."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from fashion_models.config.sections import ParetoPruning
from fashion_models.search.pareto_pruning import INTERMEDIATE, dominating_trial

DEFAULTS = ParetoPruning()  # 2 complete trials first, no pruning at epoch 0, 2 to compare


def _study(direction: str, finished: list[tuple[float, dict[str, float]]]) -> optuna.Study:
    """A [metric, params] study holding complete trials, each with its curve (the metric at
    epochs 0..n) and its measured params."""
    study = optuna.create_study(directions=[direction, "minimize"])
    for params, curve in finished:
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[list(curve.values())[-1], params],
                user_attrs={"params": params, INTERMEDIATE: curve},
            )
        )
    return study


def _asks(
    study: optuna.Study, epoch: int, value: float, params: float, **settings: int
) -> int | None:
    return dominating_trial(
        study, 99, epoch, value, {"params": params}, ["params"], ParetoPruning(**settings)
    )


CURVES = [  # (weights, accuracy per epoch)
    (1_000, {"0": 0.70, "1": 0.80, "2": 0.82}),
    (2_000, {"0": 0.60, "1": 0.78, "2": 0.85}),
    (9_000, {"0": 0.75, "1": 0.86, "2": 0.90}),
]


def test_a_trial_behind_the_median_of_those_as_cheap_is_pruned_naming_one_ahead() -> None:
    study = _study("maximize", CURVES)
    # At 5,000 weights the trials of 1,000 and 2,000 compare (median 0.79 at epoch 1).
    assert _asks(study, 1, 0.75, 5_000) == 0
    assert _asks(study, 1, 0.795, 5_000) is None  # ahead of their median
    # The 9,000-weight trial is ahead, but costs more: it never prunes a cheaper one.
    assert _asks(study, 1, 0.79, 2_500) is None
    # At 10,000 weights all three compare: median 0.80.
    assert _asks(study, 1, 0.79, 10_000) == 0


def test_warm_up_start_up_and_the_least_to_compare_hold_it_back() -> None:
    study = _study("maximize", CURVES)
    assert _asks(study, 0, 0.10, 5_000) is None  # epoch 0: warm-up
    assert _asks(study, 0, 0.10, 5_000, n_warmup_steps=0) == 0
    assert _asks(study, 1, 0.10, 1_500) is None  # only one trial as cheap: n_min_trials 2
    assert _asks(study, 1, 0.10, 1_500, n_min_trials=1) == 0
    assert _asks(study, 1, 0.10, 5_000, n_startup_trials=4) is None  # 3 complete so far
    early = _study("maximize", CURVES[:1])
    assert _asks(early, 1, 0.10, 5_000, n_min_trials=1) is None  # n_startup_trials 2


def test_a_metric_minimized_is_behind_when_higher() -> None:
    losses = [(w, {k: 1 - v for k, v in c.items()}) for w, c in CURVES]
    study = _study("minimize", losses)
    assert _asks(study, 1, 0.30, 5_000) == 0
    assert _asks(study, 1, 0.20, 5_000) is None


@pytest.mark.parametrize("epoch", [3, 7])
def test_an_epoch_no_complete_trial_reached_prunes_nothing(epoch: int) -> None:
    assert _asks(_study("maximize", CURVES), epoch, 0.0, 10_000) is None
