"""Questions asked of a study, in one place: which trials count, the best one, the counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig

# Trials that count towards study.n_trials. Failed ones do not: they are retried instead.
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
DUPLICATE_OF = "duplicate_of"  # user attr of a grid trial skipped as another's configuration
INTERRUPTED = "interrupted"  # user attr of a trial stopped by SIGINT / SIGTERM (not its fault)
STUDY_RUN_ATTR = "mlflow_study_run_id"  # study user attr: the id of the study's MLflow run


def counted_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=COUNTED_STATES))


def counts_by_state(study: optuna.Study) -> Mapping[str, int]:
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def best_completed_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial (chosen on the validation metric, never on test accuracy).

    Equal values go to the earliest trial. `study.best_trial` leaves ties to the database's
    row order, which PostgreSQL does not keep: the finish job and the study run could then
    name different trials of one study."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
    # A COMPLETE trial always holds its value.
    return max(complete, key=lambda trial: (sign * cast(float, trial.value), -trial.number))


def duplicate_of(study: optuna.Study, trial: optuna.Trial) -> int | None:
    """The earliest complete or pruned trial that ran exactly `trial`'s params, if any.

    A grid expands each per-layer param up to the most layers, so a grid point of fewer
    layers differs from others only in params its trial never asks for: the same model.
    """
    earlier = study.get_trials(deepcopy=False, states=COUNTED_STATES)
    return min(
        (t.number for t in earlier if t.number != trial.number and t.params == trial.params),
        default=None,
    )


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as plain data (the --json form, and the source of the table)."""
    duration = trial.duration.total_seconds() if trial.duration else None
    pruned_at = trial.last_step if trial.state == TrialState.PRUNED else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "params": trial.params,
        "duration_s": round(duration, 2) if duration is not None else None,
        "pruned_at_step": pruned_at,
        "test_accuracy": trial.user_attrs.get("test_accuracy"),
        "run_id": trial.user_attrs.get("mlflow_run_id"),
        "fail_reason": trial.user_attrs.get("fail_reason"),
        "duplicate_of": trial.user_attrs.get(DUPLICATE_OF),
    }


def status_data(config: StudyConfig, study: optuna.Study) -> dict[str, Any]:
    best = best_completed_trial(study)
    return {
        "study": study.study_name,
        "storage": mask_url(config.storage),
        "metric": config.study.metric,
        "direction": config.study.direction,
        "n_trials": config.study.n_trials,
        "counts": dict(counts_by_state(study)),
        "best": trial_row(best) if best is not None else None,
        "study_run_id": study.user_attrs.get(STUDY_RUN_ATTR),
        "trials": [trial_row(t) for t in study.get_trials(deepcopy=False)],
    }
