"""Questions asked of a study, in one place: which trials count, the best one, the counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import COSTS, StudyConfig

# Trials that count towards study.n_trials. Failed ones do not: they are retried instead.
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
DUPLICATE_OF = "duplicate_of"  # user attr of a grid trial skipped as another's configuration
OVER_BUDGET = "over_budget"  # user attr of a trial ended untrained: why it was over budget
INTERRUPTED = "interrupted"  # user attr of a trial stopped by SIGINT / SIGTERM (not its fault)
COST_ATTRS = (*COSTS, "serve_ms_p95")  # user attrs of a trial: what its model costs to serve
ARCHITECTURE = "architecture"  # user attr: digest of the servable network the costs are of
COSTS_OF = "costs_of"  # user attr: the earlier trial that measured this trial's network
STUDY_RUN_ATTR = "mlflow_study_run_id"  # study user attr: the id of the study's MLflow run


def counts(trial: FrozenTrial) -> bool:
    """Whether `trial` counts towards study.n_trials: complete or pruned, but not a draw over
    the budget, which trained nothing and cost under a second."""
    return trial.state in COUNTED_STATES and OVER_BUDGET not in trial.user_attrs


def counted_trials(study: optuna.Study) -> int:
    return sum(counts(t) for t in study.get_trials(deepcopy=False, states=COUNTED_STATES))


def counts_by_state(study: optuna.Study) -> Mapping[str, int]:
    """Trials per state; a draw over the budget (pruned untrained) counts as OVER_BUDGET."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        state = "OVER_BUDGET" if OVER_BUDGET in trial.user_attrs else trial.state.name
        out[state] = out.get(state, 0) + 1
    return out


def metric_value(trial: FrozenTrial) -> float | None:
    """The trial's value of the study's metric: its value, or the first of a multi-objective
    study's values (the costs follow it)."""
    return None if trial.values is None else float(trial.values[0])


def maximizes_metric(study: optuna.Study) -> bool:
    return study.directions[0] == StudyDirection.MAXIMIZE


def within(trial: FrozenTrial, maxima: Mapping[str, float]) -> bool:
    """Whether every cost in `maxima` was measured on the trial and is at most its maximum."""
    return all(
        name in trial.user_attrs and trial.user_attrs[name] <= most for name, most in maxima.items()
    )


def best_completed_trial(
    study: optuna.Study, choose: Mapping[str, float] | None = None
) -> FrozenTrial | None:
    """The best complete trial (chosen on the validation metric, never on test accuracy),
    within the costs of `choose` (registry.choose) where given. In a multi-objective study it
    is the most accurate trial of the Pareto front (within `choose`: of the front within it).

    Equal values go to the cheaper trial (a multi-objective study's costs in order), then to
    the earliest. `study.best_trial` leaves ties to the database's row order, which PostgreSQL
    does not keep: the finish job and the study run could then name different trials."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if within(t, choose or {}) and all(v <= 0 for v in t.constraints.values())
    ]
    if not complete:
        return None
    sign = 1.0 if maximizes_metric(study) else -1.0

    def rank(trial: FrozenTrial) -> tuple[float, ...]:
        # A COMPLETE trial always holds its values.
        values = cast(list[float], trial.values)
        return (sign * values[0], *(-cost for cost in values[1:]), -trial.number)

    return max(complete, key=rank)


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The complete trials no other complete trial beats on every objective, by number (a
    one-objective study: its best trial)."""
    if len(study.directions) == 1:
        best = best_completed_trial(study)
        return [] if best is None else [best]
    return sorted(study.best_trials, key=lambda t: t.number)


def grid_exhausted(study: optuna.Study) -> bool:
    """A grid study ends with its grid, even short of n_trials (as GridSampler's own stop()),
    once no retry of an interrupted grid point is queued."""
    sampler = study.sampler
    if not isinstance(sampler, optuna.samplers.GridSampler) or not sampler.is_exhausted(study):
        return False
    return not study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def duplicate_of(study: optuna.Study, trial: optuna.Trial) -> int | None:
    """The earliest complete or pruned trial that ran exactly `trial`'s params, if any.

    A grid expands each per-layer param up to the most layers, so a grid point of fewer
    layers differs from others only in params its trial never asks for: the same model.
    """
    earlier = study.get_trials(deepcopy=False, states=COUNTED_STATES)
    return min(
        (
            t.number
            for t in earlier
            if counts(t) and t.number != trial.number and t.params == trial.params
        ),
        default=None,
    )


def costs_measured_for(
    study: optuna.Study, digest: str, number: int
) -> tuple[int, dict[str, float]] | None:
    """The earliest other trial that measured the costs of the network `digest` itself, and
    what it measured."""
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        attrs = t.user_attrs
        if (
            t.number != number
            and attrs.get(ARCHITECTURE) == digest
            and COSTS_OF not in attrs
            and all(name in attrs for name in COST_ATTRS)
        ):
            return t.number, {name: float(attrs[name]) for name in COST_ATTRS}
    return None


def pruned_at(trial: FrozenTrial) -> int | None:
    """The epoch a pruned trial stopped after: its last report, or (a multi-objective study,
    where Optuna takes no reports) the epoch the objective recorded."""
    if trial.state != TrialState.PRUNED:
        return None
    return (
        trial.last_step if trial.last_step is not None else trial.user_attrs.get("pruned_at_epoch")
    )


def trial_row(trial: FrozenTrial, front: Sequence[int] = ()) -> dict[str, Any]:
    """One trial as plain data (the --json form, and the source of the table); `front`: the
    numbers of a multi-objective study's Pareto front."""
    duration = trial.duration.total_seconds() if trial.duration else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": metric_value(trial),
        "values": trial.values,
        "params": trial.params,
        "duration_s": round(duration, 2) if duration is not None else None,
        "pruned_at_step": pruned_at(trial),
        "on_front": trial.number in front,
        "test_accuracy": trial.user_attrs.get("test_accuracy"),
        "run_id": trial.user_attrs.get("mlflow_run_id"),
        "fail_reason": trial.user_attrs.get("fail_reason"),
        "duplicate_of": trial.user_attrs.get(DUPLICATE_OF),
        "costs": {name: trial.user_attrs[name] for name in COST_ATTRS if name in trial.user_attrs},
        # Within the study's budget (Optuna's constraints all <= 0); None: no budget.
        "feasible": all(v <= 0 for v in trial.constraints.values()) if trial.constraints else None,
        "over_budget": trial.user_attrs.get(OVER_BUDGET),
    }


def status_data(config: StudyConfig, study: optuna.Study) -> dict[str, Any]:
    best = best_completed_trial(study, config.registry.choose)
    front = [t.number for t in pareto_front(study)] if config.study.multi_objective else []
    return {
        "study": study.study_name,
        "storage": mask_url(config.storage),
        "metric": config.study.metric,
        "direction": config.study.direction,
        "n_trials": config.study.n_trials,
        "budget": dict(config.budget),
        "counts": dict(counts_by_state(study)),
        "best": trial_row(best) if best is not None else None,
        "study_run_id": study.user_attrs.get(STUDY_RUN_ATTR),
        "metrics": list(config.study.objectives),
        "front": front,
        "trials": [trial_row(t, front) for t in study.get_trials(deepcopy=False)],
    }
