"""One MLflow run per trial (or final retrain), whatever its end: params, per-epoch metrics,
the logged Keras model; and closing the runs of trials whose worker died."""

from __future__ import annotations

import numbers
import os
import time
from types import SimpleNamespace, TracebackType
from typing import Any

import keras
import mlflow
import numpy as np
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient

from fashion_models.config.secrets import scrub
from fashion_models.train.model import MODEL_REQUIREMENTS
from fashion_models.train.training import HistoryRecorder


def _save_keras_model(path: str, **kwargs: Any) -> None:
    # mlflow.keras.save_model (3.17) writes the input example before it creates the model
    # directory, so log_model(input_example=...) fails; create the directory first.
    os.makedirs(path, exist_ok=True)
    mlflow.keras.save_model(path=path, **kwargs)


_KERAS_FLAVOR = SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def run_name(study_name: str, trial_number: int, kind: str = "trial") -> str:
    """`<study>-trial-<n>` for a trial, `<study>-<kind>` for the study's other runs."""
    return f"{study_name}-trial-{trial_number}" if kind == "trial" else f"{study_name}-{kind}"


def system_metrics() -> bool:
    """Whether runs log MLflow's system metrics (CPU, memory, disk, network every 10 s, in a
    thread of the run's process): on unless MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING says false.
    Their cost on a trial is measured in bench/RESULTS.md."""
    return os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true").lower() != "false"


class EpochMetrics(HistoryRecorder):
    """Logs Keras' per-epoch logs (loss, accuracy, val_*) to the active run, step = epoch, and
    keeps them in memory (`history`, `last_epoch`) for the curves of a pruned trial."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, numbers.Real)}
        mlflow.log_metrics(metrics, step=epoch)


class TrialRun:
    """One MLflow run for one training: a trial (`kind` "trial") or the final retrain of the
    best trial (`kind` "final"), named for it, tagged and with its params logged. Ended
    FINISHED, KILLED (pruned) or FAILED."""

    def __init__(
        self,
        experiment_id: str,
        study_name: str,
        trial_number: int,
        tags: dict[str, str],
        *,
        kind: str = "trial",
        params: dict[str, Any] | None = None,
    ):
        named = {"optuna.study": study_name, "optuna.trial": str(trial_number), **tags}
        if kind != "trial":  # a trial's run carries no kind: the study run and retrains do
            named["optuna.kind"] = kind
        self.run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name(study_name, trial_number, kind),
            tags=named,
            log_system_metrics=system_metrics(),
        )
        self.run_id = self.run.info.run_id
        self.state = "FAIL"  # until told otherwise: a crash mid-trial is a failure
        if params:
            try:
                mlflow.log_params(params)
            except BaseException:
                mlflow.end_run(status=RUN_STATUS[self.state])
                raise

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

    def mark(self, state: str, **tags: Any) -> None:
        """Record how the trial ended (COMPLETE, PRUNED, FAIL) and why."""
        self.state = state
        if tags:
            # A reason quotes an error message: never a password of a URI in it.
            mlflow.set_tags({k: scrub(str(v))[:5000] for k, v in tags.items()})

    def log_final(self, metrics: dict[str, float]) -> None:
        """Metrics of the whole run (no step): test accuracy, images trained on, ..."""
        mlflow.log_metrics(metrics)

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


def close_trial_runs(study_name: str, experiment: str, number: int, reason: str) -> None:
    """Mark the trial's open MLflow runs FAILED with `reason`. A trial killed before it
    started its run gets one now, so that every trial keeps exactly one run."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return
    runs = list(
        client.search_runs(
            [found.experiment_id],
            filter_string=(
                f"tags.`optuna.study` = '{study_name}' and tags.`optuna.trial` = '{number}'"
            ),
        )
    )
    if not runs:
        run = client.create_run(
            found.experiment_id,
            run_name=run_name(study_name, number),
            tags={"optuna.study": study_name, "optuna.trial": str(number)},
        )
        runs = [run]
    for run in runs:
        if run.info.status in ("FINISHED", "KILLED"):
            continue
        if "fail_reason" not in run.data.tags:
            client.set_tag(run.info.run_id, "fail_reason", reason)
        if run.info.status != "FAILED":
            client.set_tag(run.info.run_id, "optuna.state", "FAIL")
            client.set_terminated(
                run.info.run_id, status="FAILED", end_time=int(time.time() * 1000)
            )
