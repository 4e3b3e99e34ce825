"""The MLflow side of a study: connecting to the tracking store and its experiment."""

from __future__ import annotations

import mlflow
from mlflow.exceptions import MlflowException

from fashion_models.search.claims import store_init_lock
from fashion_models.spec.sections import StudyConfig
from fashion_models.spec.stores import sqlite_file


def connect(uri: str) -> None:
    """Point MLflow tracking and registry at `uri` (a local SQLite file is created on demand)."""
    database = sqlite_file(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def default_artifact_location(uri: str) -> str | None:
    """Artifacts of a local SQLite store live beside it (MLflow's default is ./mlruns of the
    current directory, which would scatter them); a tracking server decides for itself."""
    database = sqlite_file(uri)
    return (database.parent / "artifacts").as_uri() if database is not None else None


def ensure_experiment(name: str, uri: str) -> str:
    """The id of experiment `name`, created once even when workers race to create it."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(mlflow.create_experiment(name, artifact_location=default_artifact_location(uri)))
    except MlflowException:
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def open_tracking(config: StudyConfig) -> str:
    """Connect MLflow and return the experiment id, created once however many workers start
    together (a local SQLite tracking store is also created under a lock)."""
    uri = config.tracking.uri
    with store_init_lock(uri):
        connect(uri)
        return ensure_experiment(config.tracking.experiment, uri)
