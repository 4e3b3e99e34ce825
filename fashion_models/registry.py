"""Registering the study's best model and moving the alias as the promotion rule allows."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import optuna
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial

from fashion_models.config import RegistrySection
from fashion_models.serving.pyfunc import log_serving_model


@dataclass(frozen=True)
class Promotion:
    """What happened in the registry at the end of a study."""

    model_name: str
    version: str
    trial: int
    test_accuracy: float
    alias: str
    promoted: bool
    reason: str


def best_completed_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial (chosen on the validation metric, never on test accuracy)."""
    try:
        return study.best_trial
    except ValueError:
        return None


def register_best(study: optuna.Study, registry: RegistrySection) -> Promotion | None:
    """Register the best trial's model (once per trial) and apply `registry.promote`."""
    best = best_completed_trial(study)
    if best is None or "mlflow_model_uri" not in best.user_attrs:
        return None
    client = MlflowClient()
    version = _version_for(client, study.study_name, best, registry.model_name)
    accuracy = float(best.user_attrs["test_accuracy"])
    promoted, reason = _decide(client, registry, accuracy, version.version)
    if promoted:
        client.set_registered_model_alias(registry.model_name, registry.alias, version.version)
    return Promotion(
        registry.model_name,
        str(version.version),
        best.number,
        accuracy,
        registry.alias,
        promoted,
        reason,
    )


def _version_for(
    client: MlflowClient, study_name: str, trial: FrozenTrial, name: str
) -> mlflow.entities.model_registry.ModelVersion:
    """The registered version of this trial's model, registering it on first call."""
    run_id = trial.user_attrs["mlflow_run_id"]
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        return existing[0]
    tags = {
        "optuna.study": study_name,
        "optuna.trial": str(trial.number),
        "test_accuracy": f"{trial.user_attrs['test_accuracy']:.6f}",
        "objective_value": f"{trial.value:.6f}",
        "mlflow_run_id": run_id,
    }
    # What is registered is the servable pyfunc (images in, classes out) wrapping the Keras model.
    source = log_serving_model(run_id, trial.user_attrs["mlflow_model_uri"])
    return mlflow.register_model(source, name, tags=tags)


def _decide(
    client: MlflowClient, registry: RegistrySection, accuracy: float, version: str
) -> tuple[bool, str]:
    if registry.promote == "never":
        return False, "registry.promote is never"
    try:
        holder = client.get_model_version_by_alias(registry.model_name, registry.alias)
    except MlflowException:
        return True, f"no version held @{registry.alias}"
    if str(holder.version) == str(version):
        return False, f"version {version} already holds @{registry.alias}"
    if registry.promote == "always":
        return True, "registry.promote is always"
    held = float(holder.tags.get("test_accuracy", "-inf"))
    if accuracy > held:
        return True, f"test accuracy {accuracy:.4f} beats version {holder.version}'s {held:.4f}"
    return (
        False,
        f"test accuracy {accuracy:.4f} does not beat version {holder.version}'s {held:.4f}",
    )
