"""The MLflow side of a study: connecting to the tracking store and its experiment."""

from __future__ import annotations

import math
import os

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from fashion_models.config.secrets import http_credentials
from fashion_models.config.sections import StudyConfig, WorkersSection
from fashion_models.config.stores import database_server, sqlite_file
from fashion_models.search.claims import store_init_lock
from fashion_models.track import http_retry
from fashion_models.track.access import load_credentials

# MLflow's HTTP client retries a request whose connection fails or whose answer is a 5xx,
# sleeping 0, 2, 4, 8, ... s between tries with this backoff factor (urllib3's exponential
# backoff); it allows at most 10 retries.
HTTP_BACKOFF_FACTOR, HTTP_MAX_RETRIES = 1, 10


def connect(uri: str, retry_seconds: float = WorkersSection.storage_retry_seconds) -> None:
    """Point MLflow tracking and registry at `uri` (a local SQLite file is created on demand).

    A tracking server's requests are retried for about `retry_seconds` (a server that
    restarts mid-study costs a wait, not the trial), and so is an answer cut off in its body
    (http_retry); settings of MLFLOW_HTTP_REQUEST_* in the environment win. A user and
    password in an http(s) URI move to MLflow's own variables (MLFLOW_TRACKING_USERNAME /
    _PASSWORD), so that no URL MLflow quotes in a message holds them; worker processes inherit
    both."""
    database = sqlite_file(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    load_credentials()
    uri, user, password = http_credentials(uri)
    if user is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
    if password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(http_retries(retry_seconds)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", str(HTTP_BACKOFF_FACTOR))
    http_retry.install()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def http_retries(seconds: float) -> int:
    """Retries whose backoff sleeps (0, 2, 4, ... 2**(n-1) s: 2**n - 2 in all) cover
    `seconds`, within MLflow's limit."""
    if seconds <= 0:
        return 0
    return min(HTTP_MAX_RETRIES, max(1, math.ceil(math.log2(seconds / HTTP_BACKOFF_FACTOR + 2))))


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
    together: a SQLite or PostgreSQL tracking store is created (schema, migrations, the
    experiment) under a lock; a tracking server creates its schema itself, and a raced
    experiment is read back (ensure_experiment)."""
    uri = config.tracking.uri
    with store_init_lock(uri):
        connect(uri, config.workers.storage_retry_seconds)
        experiment_id = ensure_experiment(config.tracking.experiment, uri)
        if sqlite_file(uri) is not None or database_server(uri) is not None:
            # The registry's store checks (and on a fresh database completes) its tables on
            # first use: that too under the lock.
            MlflowClient().search_registered_models(max_results=1)
        return experiment_id
