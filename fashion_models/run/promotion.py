"""The registry side of a study: register its model (servable, wrapped by serving's pyfunc),
promote a chosen trial. Behind the end of a study and `optuna-run promote`."""

from __future__ import annotations

from dataclasses import replace

import optuna
from optuna.trial import FrozenTrial, TrialState

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig
from fashion_models.errors import ArgumentError, FatalError
from fashion_models.run.final import recorded_final
from fashion_models.search.queries import best_completed_trial
from fashion_models.search.study import load_existing_study
from fashion_models.serving.costs import budget_reason
from fashion_models.serving.pyfunc import log_serving_model
from fashion_models.track.experiment import connect
from fashion_models.track.registry import (
    Candidate,
    Promotion,
    promote,
    register_best,
    trial_candidate,
)
from fashion_models.track.runs import live_run


def register_study_model(
    study: optuna.Study, config: StudyConfig, candidate: Candidate | None = None
) -> Promotion | None:
    """Register the study's model (the best trial's, or `candidate`) as a servable model and
    apply the file's promotion rule."""
    if candidate is None:
        best = best_completed_trial(study, config.registry.choose)
        candidate = _within_budget(config, best) if best is not None else None
    if candidate is not None:
        _check_in_this_store(config, candidate)
    return register_best(study, config.registry, log_serving_model, candidate)


def _check_in_this_store(config: StudyConfig, candidate: Candidate) -> None:
    """A study continued from another checkout or tracking store holds trials whose runs (and
    models) are not in this one: say so in one line rather than fail inside MLflow."""
    if live_run(candidate.run_id) is None:
        raise FatalError(
            f"trial {candidate.trial}'s MLflow run {candidate.run_id} is not in the tracking "
            f"store {mask_url(config.tracking.uri)} (the trial ran with another one): its "
            "model cannot be registered from here; finish the study with the store it ran "
            "with, or promote a trial of this store with `optuna-run promote --trial N`"
        )


def promote_study_model(
    config: StudyConfig,
    trial_number: int | None,
    alias: str,
    *,
    force: bool = False,
    stage: str | None = None,
) -> Promotion:
    """Register trial N's model (default: the study's model, its final retrain if one was
    recorded) and move `alias` to it under the same rule as the end of a study."""
    study = load_existing_study(config)
    candidate = _candidate(config, study, trial_number)
    connect(config.tracking.uri)
    _check_in_this_store(config, candidate)
    name = config.registry.model_name
    return promote(candidate, name, alias, log_serving_model, force=force, stage=stage)


def _within_budget(config: StudyConfig, trial: FrozenTrial) -> Candidate | None:
    """The trial's model as a candidate, with its measured costs held against the budget
    (a study whose budget was tightened after the trial ran)."""
    candidate = trial_candidate(config.study.name, trial)
    if candidate is None or not config.budget:
        return candidate
    return replace(candidate, over_budget=budget_reason(trial.user_attrs, config.budget))


def _candidate(config: StudyConfig, study: optuna.Study, number: int | None) -> Candidate:
    if number is None:
        final = recorded_final(study, config)
        if final is not None:
            return final
        best = best_completed_trial(study, config.registry.choose)
        if best is None:
            raise ArgumentError("the study has no complete trial to promote")
        number = best.number
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise ArgumentError(f"--trial {number}: no such trial (the study has {len(trials)})")
    trial = trials[number]
    if trial.state != TrialState.COMPLETE:
        raise ArgumentError(
            f"--trial {number} is {trial.state.name}; only complete trials have a model"
        )
    candidate = _within_budget(config, trial)
    if candidate is None:
        raise ArgumentError(f"--trial {number} logged no model")
    return candidate
