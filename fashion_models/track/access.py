"""Whether this process may write the study's MLflow experiment, asked before either store is
written: a tracking server with authentication (`mlflow server --app-name basic-auth`) that
refuses the worker's credentials, or lets its user only read the experiment, and a tracking
database that cannot be reached (a wrong CA under sslmode=verify-full, a wrong password), stop
the worker with one line, with no Optuna study and no run half-made.

MLflow's own credentials are used as MLflow reads them: $MLFLOW_TRACKING_USERNAME and
$MLFLOW_TRACKING_PASSWORD, or $MLFLOW_TRACKING_TOKEN; the password and the token may also come
from a file ($MLFLOW_TRACKING_PASSWORD_FILE, $MLFLOW_TRACKING_TOKEN_FILE, as a Kubernetes
Secret volume gives them), which `load_credentials` moves into MLflow's variables.
"""

from __future__ import annotations

import os

import sqlalchemy
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request
from sqlalchemy.pool import NullPool

from fashion_models.config.secrets import mask_url, read_secret, scrub
from fashion_models.config.stores import database_server, is_tracking_server
from fashion_models.errors import StoreError
from fashion_models.search.connections import connect_args
from fashion_models.search.reconnect import first_line

USER, PASSWORD, TOKEN = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
)
WRITES = ("EDIT", "MANAGE")  # the permissions of MLflow's auth app that may log runs
PERMISSION_ENDPOINT = "/api/3.0/mlflow/users/permissions/get"  # the auth app's; self may ask


def load_credentials() -> None:
    """The password and token from their _FILE variables into MLflow's own, which MLflow
    reads (and this process's workers inherit)."""
    for name in (PASSWORD, TOKEN):
        secret = read_secret(name)
        if secret is not None and f"{name}_FILE" in os.environ:
            os.environ[name] = secret
            del os.environ[f"{name}_FILE"]  # the children inherit the value, not both


def check_tracking_access(uri: str, experiment: str) -> None:
    """StoreError (one line) unless this process can reach the tracking store at `uri` and
    write experiment `experiment` there (or create it): a database server is connected to
    once; a tracking server must take the credentials and grant EDIT or MANAGE. Nothing to
    ask of a SQLite file: whoever opens it may write it."""
    if database_server(uri) is not None:
        _reach(uri)
    elif is_tracking_server(uri):
        _check_server(uri, experiment)


def _reach(uri: str) -> None:
    engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=connect_args(uri))
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as exc:
        why = scrub(first_line(exc), uri)
        raise StoreError(f"cannot reach the database {mask_url(uri)}: {why}") from exc
    finally:
        engine.dispose()


def _check_server(uri: str, experiment: str) -> None:
    where = f"the MLflow server at {mask_url(uri)}"
    user = os.environ.get(USER)
    try:
        found = MlflowClient().get_experiment_by_name(experiment)
    except MlflowException as exc:
        status = exc.get_http_status_code()
        if status == 401:
            who = f"user {user!r}" if user else "this worker, which sent no credentials"
            raise StoreError(
                f"{where} refused {who}: expected MLflow's credentials in ${USER} and "
                f"${PASSWORD} (or ${PASSWORD}_FILE), or ${TOKEN}"
            ) from None
        if status == 403:
            raise StoreError(
                f"{where} does not let user {user!r} read experiment {experiment!r}"
            ) from None
        raise
    if found is None or not user:
        return  # creating the experiment makes this user its manager
    permission = _permission(uri, user, found.experiment_id)
    if permission is not None and permission not in WRITES:
        raise StoreError(
            f"{where} lets user {user!r} only {permission} experiment {experiment!r}: a worker "
            f"logs its runs there, which takes {' or '.join(WRITES)} (`optuna-run status` and "
            "the MLflow UI need no more than READ)"
        )


def _permission(uri: str, user: str, experiment_id: str) -> str | None:
    """The user's permission on the experiment as the auth app resolves it; None when the
    server has no auth app (or answers something else: the writes themselves will tell)."""
    params = {"username": user, "resource_type": "experiment", "resource_id": experiment_id}
    try:
        response = http_request(
            get_default_host_creds(uri), PERMISSION_ENDPOINT, "GET", params=params
        )
        if response.status_code != 200:
            return None
        permission = response.json().get("permission")
    except (MlflowException, ValueError, OSError):
        return None
    return permission if isinstance(permission, str) else None
