"""The best trial of a study is one trial, whatever order the database returns rows in."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from fashion_models.search.queries import best_completed_trial


def _study(storage: str | None, direction: str, values: list[float | None]) -> optuna.Study:
    study = optuna.create_study(storage=storage, direction=direction, study_name="ties")
    for value in values:
        state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
        study.add_trial(
            create_trial(
                state=state, value=value, params={"x": 0.5},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                intermediate_values={0: 0.9},
            )
        )  # fmt: skip
    return study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_equal_values_go_to_the_earliest_trial(direction: str) -> None:
    # Trials 2 and 3 tie on the best value; the pruned trial 4 reported a better one.
    best, other = (0.9, 0.8) if direction == "maximize" else (0.1, 0.2)
    study = _study(None, direction, [other, other, best, best, None])
    chosen = best_completed_trial(study)
    assert chosen is not None and chosen.number == 2


def test_ties_on_postgresql_go_to_the_earliest_trial(pg_url: str) -> None:
    # PostgreSQL keeps no row order, so `study.best_trial` may name any of the tied trials;
    # the finish job, the study run and `status` must all name the same one.
    study = _study(pg_url, "maximize", [0.5, 0.7, 0.7, 0.7, 0.6])
    chosen = best_completed_trial(study)
    assert chosen is not None and chosen.number == 1


def test_a_study_without_a_complete_trial_has_no_best() -> None:
    assert best_completed_trial(_study(None, "maximize", [None, None])) is None
