"""The session of one process on one study: everything a worker needs for the life of the
study, made once (data, the open study with its sampler and claim lock, the MLflow experiment,
the study run) and passed down to the objective and the final retrain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna
from mlflow.data.numpy_dataset import NumpyDataset

from fashion_models.config.sections import StudyConfig
from fashion_models.config.stores import is_tracking_server
from fashion_models.run.recovery import StaleTrialCallback
from fashion_models.search.study import StudyHandle, open_study
from fashion_models.track.access import check_tracking_access
from fashion_models.track.datasets import split_datasets
from fashion_models.track.experiment import connect, open_tracking
from fashion_models.track.lineage import lineage_tags
from fashion_models.track.study_run import PARENT_TAG, ensure_study_run
from fashion_models.track.trial_run import TrialRun
from fashion_models.train.data import Splits, load_fashion_mnist, make_splits
from fashion_models.train.devices import device_tags


@dataclass(frozen=True)
class StudySession:
    config: StudyConfig
    handle: StudyHandle
    experiment_id: str
    study_run_id: str  # the MLflow run the trial runs nest under
    splits: Splits | None  # None where no trial runs (the parent of --workers)

    @property
    def study(self) -> optuna.Study:
        return self.handle.study

    @cached_property
    def datasets(self) -> list[tuple[str, NumpyDataset]]:
        """The splits as MLflow datasets (context, dataset), digested once per process."""
        assert self.splits is not None, "a session that runs trials holds its splits"
        return list(split_datasets(self.splits).items())

    def training_run(
        self,
        trial_number: int,
        seed: int,
        params: Mapping[str, Any],
        *,
        kind: str = "trial",
        extra_params: Mapping[str, Any] | None = None,
    ) -> TrialRun:
        """The MLflow run of one training of this study (a trial, or the final retrain of
        trial `trial_number`): named for its kind, nested under the study run, tagged with its
        seed and lineage (which code, data and machine made it), its params logged."""
        tags = {
            "seed": str(seed),
            PARENT_TAG: self.study_run_id,
            **lineage_tags(),
            **device_tags(),
        }
        logged = {"model": self.config.search_space.model_of(params), **(extra_params or {})}
        logged.update(params)
        return TrialRun(
            self.experiment_id, self.study.study_name, trial_number, tags, kind=kind, params=logged
        )


def study_splits(config: StudyConfig, train_size: int | None = None) -> Splits:
    """The study's train / validation / test images, as its data section asks (`train_size`,
    the final retrain's, replaces the data section's)."""
    d = config.data
    return make_splits(
        load_fashion_mnist(),
        validation_split=d.validation_split,
        train_size=train_size or d.train_size,
        test_size=d.test_size,
        seed=config.study.seed,
    )


def open_session(config: StudyConfig, *, runs_trials: bool = True) -> StudySession:
    """Open (or create) the study and its MLflow side once. The data is checked before
    anything is written; it is split only where trials run (`runs_trials`), and only such a
    process joins the study as a worker."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = study_splits(config) if runs_trials else None
    if splits is None:
        load_fashion_mnist()  # missing or corrupt data stops us before either store is written
    stale = StaleTrialCallback(config.tracking.experiment, config.workers.grace_period)
    # The tracking store first, read only: one that cannot be reached, or refuses this
    # worker's credentials, or lets it only read, stops it before either store is written.
    # Then the study: an unreachable storage must not leave an MLflow store behind.
    if is_tracking_server(config.tracking.uri):
        connect(config.tracking.uri, config.workers.storage_retry_seconds)
    check_tracking_access(config.tracking.uri, config.tracking.experiment)
    handle = open_study(config, join=runs_trials, stale_trial_callback=stale)
    experiment_id = open_tracking(config)
    study_run_id = ensure_study_run(handle.study, experiment_id, config)
    return StudySession(config, handle, experiment_id, study_run_id, splits)
