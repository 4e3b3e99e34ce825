"""The path of one study, after its files are validated: data, stores, trials, registry."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from fashion_models.config import StudyConfig
from fashion_models.data import Splits, load_fashion_mnist, make_splits
from fashion_models.final import final_candidate
from fashion_models.objective import Objective, TrialFailed
from fashion_models.registry import Promotion, register_best
from fashion_models.storages import open_tracking
from fashion_models.study import open_study, run_trials
from fashion_models.study_run import ensure_study_run, refresh_study_run


def load_splits(config: StudyConfig) -> Splits:
    """The study's train / validation / test images, as its data section asks."""
    d = config.data
    return make_splits(
        load_fashion_mnist(),
        validation_split=d.validation_split,
        train_size=d.train_size,
        test_size=d.test_size,
        seed=config.study.seed,
    )


def run_study(
    config: StudyConfig, echo: Callable[[str], None] = print, register: bool = True
) -> tuple[optuna.Study, Promotion | None]:
    """Run (or continue) the study to n_trials, then register and maybe promote its best model
    (`register=False`: a worker of `--workers`, whose parent registers once at the end)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = load_splits(config)
    study = open_study(config)  # first: an unreachable storage must not leave an MLflow store
    experiment_id = open_tracking(config)
    ensure_study_run(study, experiment_id, config)
    echo(
        f"study {config.study.name!r} on {config.storage}: "
        f"{len(splits.y_train)} train / {len(splits.y_val)} validation / "
        f"{len(splits.y_test)} test images"
    )
    run_trials(config, study, Objective(config, splits, experiment_id), (TrialFailed,), echo)
    if not register:  # a worker of --workers: its parent finishes the study once
        return study, None
    return study, finish_study(study, config, experiment_id, echo, splits)


def finish_study(
    study: optuna.Study,
    config: StudyConfig,
    experiment_id: str,
    echo: Callable[[str], None] = print,
    splits: Splits | None = None,
) -> Promotion | None:
    """Redraw the study figures, retrain the best configuration if the file asks (`final:`),
    then register the study's model and apply the promotion rule."""
    refresh_study_run(study, config, ensure_study_run(study, experiment_id, config))
    if config.final is not None and splits is None:
        splits = load_splits(config)
    final = final_candidate(study, config, splits, experiment_id, echo) if splits else None
    return register_best(study, config.registry, final)
