"""Registering a study's model and moving the alias: one gated rule for the automatic promotion
at the end of a study and for `optuna-run promote`.

The rule: a version takes the alias only if its test accuracy beats the current holder's (or
when forced). The holder is read and the alias moved under one store lock (locks.py), so two
studies finishing at the same moment are serialized and the better model ends up holding it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import mlflow
import optuna
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial

from fashion_models.config.sections import RegistrySection
from fashion_models.config.vocabulary import DEFAULTS
from fashion_models.search.queries import best_completed_trial
from fashion_models.track.locks import lock_name, store_lock

# Turns a logged Keras model into what the registry holds: (run id, Keras model URI) -> the URI
# of the servable model logged in that run (run/ passes serving's pyfunc).
Packager = Callable[[str, str], str]

# Run metrics copied onto the registered version, so the registry answers without the run:
# how good it is, and what it costs the shop to serve (serving/costs.py).
VERSION_METRICS = (
    "test_accuracy",
    "test_loss",
    "test_macro_f1",
    "final_val_accuracy",
    "serve_ms",
    "serve_ms_p95",
    "params",
    "model_mb",
    "mflops",
)
# Lineage tags of the run copied onto the version (run tag -> version tag).
VERSION_LINEAGE = {"lineage.data_sha256": "data_sha256", "lineage.git_commit": "git_commit"}
# How the model predicts, from the run's params (absent: the vocabulary's default), so the
# shop can tell what a version does to an upload without opening its run.
VERSION_PARAMS = ("tta", "precision")


@dataclass(frozen=True)
class ModelIdentity:
    """Which model a URI names, the alias resolved: a registry URI (`models:/name@alias` or
    `models:/name/version`) names a version; any other URI (`runs:/...`, a path) names itself."""

    name: str
    version: str
    uri: str  # as given

    @property
    def pinned_uri(self) -> str:
        """The URI of exactly this version, so a promotion after resolving cannot change
        what is loaded."""
        if self.uri.startswith("models:/"):
            return f"models:/{self.name}/{self.version}"
        return self.uri

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "uri": self.uri}


def resolve(model_uri: str) -> ModelIdentity:
    """Name and version of `model_uri`, an alias looked up once in the registry (raises
    MlflowException when the model or alias does not exist)."""
    ref = model_uri.removeprefix("models:/")
    if ref == model_uri:
        return ModelIdentity(model_uri, model_uri, model_uri)
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = str(MlflowClient().get_model_version_by_alias(name, alias).version)
    else:
        name, _, version = ref.partition("/")
    return ModelIdentity(name, version, model_uri)


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


@dataclass(frozen=True)
class Candidate:
    """A logged model that may be registered: a trial's, or the final retrain's."""

    study: str
    trial: int
    run_id: str
    model_uri: str
    test_accuracy: float
    tags: dict[str, str] = field(default_factory=dict)  # extra version tags
    over_budget: str = ""  # why its model is over the study's budget ("": within it)


def trial_candidate(study_name: str, trial: FrozenTrial) -> Candidate | None:
    """The trial's model as a candidate; None when the trial logged no model."""
    if "mlflow_model_uri" not in trial.user_attrs:
        return None
    return Candidate(
        study=study_name,
        trial=trial.number,
        run_id=str(trial.user_attrs["mlflow_run_id"]),
        model_uri=str(trial.user_attrs["mlflow_model_uri"]),
        test_accuracy=float(trial.user_attrs["test_accuracy"]),
        tags={"objective_value": f"{trial.values[0]:.6f}"} if trial.values else {},
    )


def register_best(
    study: optuna.Study,
    registry: RegistrySection,
    package: Packager,
    candidate: Candidate | None = None,
) -> Promotion | None:
    """Register the study's model (the best trial's, or `candidate`, e.g. a final retrain)
    once, and apply `registry.promote`: never; always (forced); if_better (the gated rule)."""
    if candidate is None:
        best = best_completed_trial(study, registry.choose)
        candidate = trial_candidate(study.study_name, best) if best is not None else None
    if candidate is None:
        return None
    if registry.promote == "never":
        version = register(candidate, registry.model_name, package)
        reason = "registry.promote is never"
        return _promotion_of(registry.model_name, registry.alias, version, candidate, False, reason)
    always = registry.promote == "always"
    return promote(candidate, registry.model_name, registry.alias, package, force=always)


def promote(
    candidate: Candidate,
    model_name: str,
    alias: str,
    package: Packager,
    *,
    force: bool = False,
    stage: str | None = None,
) -> Promotion:
    """Register `candidate` (once) and move `alias` to it if the rule allows; with `stage`,
    also transition the version's (deprecated) stage when the alias moved."""
    client = MlflowClient()
    version = register(candidate, model_name, package)
    with store_lock(lock_name("alias", model_name, alias)):
        # Read under the lock: a holder that changed while we trained or registered counts.
        moved, reason = decide(client, model_name, alias, version, candidate, force)
        if moved:
            client.set_registered_model_alias(model_name, alias, str(version.version))
    if moved and stage is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated; asked for
            client.transition_model_version_stage(
                model_name, str(version.version), stage, archive_existing_versions=True
            )
        reason += f"; stage {stage}"
    return _promotion_of(model_name, alias, version, candidate, moved, reason)


def _promotion_of(
    model_name: str, alias: str, version: ModelVersion, c: Candidate, moved: bool, reason: str
) -> Promotion:
    return Promotion(
        model_name, str(version.version), c.trial, c.test_accuracy, alias, moved, reason
    )


REGISTER_WAIT = 900.0  # seconds a worker waits for another's registration of the study's model


def register(candidate: Candidate, name: str, package: Packager) -> ModelVersion:
    """The registered version of the candidate's model, registering it on first call, with
    tags: study, trial, metrics, data checksum, commit."""
    client = MlflowClient()
    run_id = candidate.run_id
    # Under a lock: workers of one study finishing together would otherwise both find no
    # version of this run and register it twice. Packaging and uploading the servable model
    # through a tracking server took 125 s on 2 loaded cores (3 workers, an experiment beside
    # them): the others wait that long, and the lock is not taken for stale before.
    with store_lock(lock_name("register", name), timeout=REGISTER_WAIT, stale_after=REGISTER_WAIT):
        existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if existing:
            return existing[0]
        tags = version_tags(client, candidate)
        # What is registered is what `package` makes of the Keras model: the servable pyfunc
        # (images in, classes out) wrapping it.
        source = package(run_id, candidate.model_uri)
        return mlflow.register_model(source, name, tags=tags)


def version_tags(client: MlflowClient, candidate: Candidate) -> dict[str, str]:
    run = client.get_run(candidate.run_id)
    tags = {
        "optuna.study": candidate.study,
        "optuna.trial": str(candidate.trial),
        "test_accuracy": f"{candidate.test_accuracy:.6f}",
        "mlflow_run_id": candidate.run_id,
        **{m: f"{run.data.metrics[m]:.6f}" for m in VERSION_METRICS if m in run.data.metrics},
        **{v: run.data.tags[t] for t, v in VERSION_LINEAGE.items() if t in run.data.tags},
        **{p: run.data.params.get(p, str(DEFAULTS[p])) for p in VERSION_PARAMS},
        **candidate.tags,
    }
    return tags


def decide(
    client: MlflowClient,
    model_name: str,
    alias: str,
    version: ModelVersion,
    candidate: Candidate,
    force: bool,
) -> tuple[bool, str]:
    """The one promotion rule: a model over the study's budget never takes the alias, forced
    or not; any other must beat the holder's test accuracy, or be forced."""
    accuracy = candidate.test_accuracy
    if candidate.over_budget:
        return False, f"{candidate.over_budget}: a model over the budget never takes @{alias}"
    try:
        holder = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return True, f"no version held @{alias}"
    if str(holder.version) == str(version.version):
        return False, f"version {version.version} already holds @{alias}"
    held = float(holder.tags.get("test_accuracy", "-inf"))
    if force:
        return True, f"forced over version {holder.version} ({held:.4f})"
    if accuracy > held:
        return True, f"test accuracy {accuracy:.4f} beats version {holder.version}'s {held:.4f}"
    return (
        False,
        f"test accuracy {accuracy:.4f} does not beat version {holder.version}'s {held:.4f}",
    )
