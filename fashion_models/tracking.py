"""MLflow: the experiment, one run per trial whatever its end, and what each run holds."""

from __future__ import annotations

import numbers
import os
from importlib.metadata import version
from types import SimpleNamespace, TracebackType
from typing import Any

import keras
import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature

from fashion_models.claims import sqlite_file
from fashion_models.plots import confusion_matrix_figure

# Written into every logged model, so serving installs what the model was trained with
# (and log_model skips its slow requirement inference).
MODEL_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("tensorflow", "keras", "numpy")]


def _save_keras_model(path: str, **kwargs: Any) -> None:
    # mlflow.keras.save_model (3.17) writes the input example before it creates the model
    # directory, so log_model(input_example=...) fails; create the directory first.
    os.makedirs(path, exist_ok=True)
    mlflow.keras.save_model(path=path, **kwargs)


_KERAS_FLAVOR = SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


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


class EpochMetrics(keras.callbacks.Callback):
    """Logs Keras' per-epoch logs (loss, accuracy, val_*) to the active run, step = epoch."""

    last_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.last_epoch = epoch
        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, numbers.Real)}
        mlflow.log_metrics(metrics, step=epoch)


class TrialRun:
    """One MLflow run for one trial. Ended FINISHED, KILLED (pruned) or FAILED."""

    def __init__(
        self, experiment_id: str, study_name: str, trial_number: int, tags: dict[str, str]
    ):
        self.run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=f"{study_name}-trial-{trial_number}",
            tags={"optuna.study": study_name, "optuna.trial": str(trial_number), **tags},
        )
        self.run_id = self.run.info.run_id
        self.state = "FAIL"  # until told otherwise: a crash mid-trial is a failure

    def __enter__(self) -> TrialRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mlflow.set_tag("optuna.state", self.state)
        mlflow.end_run(status=RUN_STATUS[self.state])

    def log_params(self, params: dict[str, Any]) -> None:
        mlflow.log_params(params)

    def mark(self, state: str, **tags: Any) -> None:
        """Record how the trial ended (COMPLETE, PRUNED, FAIL) and why."""
        self.state = state
        if tags:
            mlflow.set_tags({k: str(v)[:5000] for k, v in tags.items()})

    def log_final(self, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics)

    def log_confusion_matrix(
        self, y_true: np.ndarray, y_pred: np.ndarray, class_names: Any
    ) -> None:
        fig = confusion_matrix_figure(y_true, y_pred, class_names, title="Test set")
        mlflow.log_figure(fig, "confusion_matrix.png")

    def log_model(self, model: keras.Model, example: np.ndarray) -> str:
        """Log the Keras model with signature and input example; returns its model URI."""
        signature = infer_signature(example, model.predict(example, verbose=0))
        info = Model.log(
            artifact_path=None,
            name="model",
            flavor=_KERAS_FLAVOR,
            model=model,
            signature=signature,
            input_example=example,
            pip_requirements=MODEL_REQUIREMENTS,
        )
        return str(info.model_uri)
