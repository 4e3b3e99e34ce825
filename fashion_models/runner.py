"""The path of one study, after its files are validated: data, stores, trials, registry."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from fashion_models import tracking
from fashion_models.config import StudyConfig
from fashion_models.data import load_fashion_mnist, make_splits
from fashion_models.final import final_candidate
from fashion_models.objective import Objective, TrialFailed
from fashion_models.registry import Promotion, register_best
from fashion_models.study import open_study, run_trials
from fashion_models.study_run import ensure_study_run, refresh_study_run


def run_study(
    config: StudyConfig, echo: Callable[[str], None] = print
) -> tuple[optuna.Study, Promotion | None]:
    """Run (or continue) the study to n_trials, then register and maybe promote its best model."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    d = config.data
    splits = make_splits(
        load_fashion_mnist(),
        validation_split=d.validation_split,
        train_size=d.train_size,
        test_size=d.test_size,
        seed=config.study.seed,
    )
    tracking.connect(config.tracking.uri)
    experiment_id = tracking.ensure_experiment(config.tracking.experiment, config.tracking.uri)
    study = open_study(config)
    study_run_id = ensure_study_run(study, experiment_id, config)
    echo(
        f"study {config.study.name!r} on {config.storage}: "
        f"{len(splits.y_train)} train / {len(splits.y_val)} validation / "
        f"{len(splits.y_test)} test images"
    )
    run_trials(config, study, Objective(config, splits, experiment_id), (TrialFailed,), echo)
    refresh_study_run(study, config, study_run_id)
    final = final_candidate(study, config, splits, experiment_id, echo)
    return study, register_best(study, config.registry, final)
