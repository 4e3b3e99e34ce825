"""The work behind `optuna-run report` and `optuna-run promote`, on a study that exists."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from fashion_models import tracking
from fashion_models.config import StudyConfig
from fashion_models.final import recorded_final
from fashion_models.registry import Candidate, Promotion, promote, trial_candidate
from fashion_models.status import load_existing_study
from fashion_models.storages import open_tracking
from fashion_models.study_run import ensure_study_run, refresh_study_run
from fashion_models.yaml_source import ConfigError


def report(config: StudyConfig, echo: Callable[[str], None] = print) -> list[str]:
    """Redraw the study figures on the study run (created if the study predates it)."""
    study = load_existing_study(config)
    run_id = ensure_study_run(study, open_tracking(config), config)
    written = refresh_study_run(study, config, run_id)
    echo(
        f"study run {run_id} in experiment {config.tracking.experiment!r} at {config.tracking.uri}"
    )
    for name in written:
        echo(f"  {name}")
    return written


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
    tracking.connect(config.tracking.uri)
    return promote(candidate, config.registry.model_name, alias, force=force, stage=stage)


def _candidate(config: StudyConfig, study: optuna.Study, number: int | None) -> Candidate:
    if number is None:
        final = recorded_final(study)
        if final is not None:
            return final
        try:
            number = study.best_trial.number
        except ValueError:
            raise _bad(config, "the study has no complete trial to promote") from None
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise _bad(config, f"--trial {number}: no such trial (the study has {len(trials)})")
    trial = trials[number]
    if trial.state != TrialState.COMPLETE:
        raise _bad(
            config, f"--trial {number} is {trial.state.name}; only complete trials have a model"
        )
    candidate = trial_candidate(study.study_name, trial)
    if candidate is None:
        raise _bad(config, f"--trial {number} logged no model")
    return candidate


def _bad(config: StudyConfig, message: str) -> ConfigError:
    return ConfigError(config.path, "", message)
