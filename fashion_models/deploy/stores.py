"""Which store URIs a cluster's jobs may be given, and which may be written into a file.

A URI holding a password is never written into a rendered file: the jobs read it from the
environment (Slurm) or a Secret (Kubernetes). A SQLite file or a journal file cannot be shared
by workers on several nodes: SQLite's locks do not hold over a network filesystem (optuna#6036).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from fashion_models.config.secrets import mask_url
from fashion_models.config.stores import local_file
from fashion_models.deploy.plan import RenderError

STORAGE_VAR, TRACKING_VAR = "OPTUNA_STORAGE", "MLFLOW_TRACKING_URI"
# Query parameters that carry a credential (libpq reads ?password=, servers take tokens).
_SECRET_PARAMS = ("password", "passwd", "secret", "token")


@dataclass(frozen=True)
class StoreSetting:
    """How a rendered script sets one store variable: a default it may carry, or none (the
    variable must be set when it runs), and why."""

    variable: str  # OPTUNA_STORAGE | MLFLOW_TRACKING_URI
    default: str | None  # written into the script; never a URI that holds a password
    why_required: str = ""  # when default is None: why the script does not carry one


def holds_secret(url: str) -> bool:
    """Whether `url` carries a password or a credential: a user:password@ part (database and
    http(s) URLs alike), or a query parameter such as ?password=."""
    if "://" not in url:
        return False
    parts = urlsplit(url)
    try:
        if parts.password is not None:
            return True
    except ValueError:  # a netloc urllib cannot read: trust SQLAlchemy, then the mask
        pass
    try:
        if make_url(url).password is not None:
            return True
    except (ArgumentError, ValueError):
        return mask_url(url) != url
    params = (name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return any(secret in name for name in params for secret in _SECRET_PARAMS)


def names_a_file(url: str) -> bool:
    """A SQLite URL (file or in-memory) or a journal-file path: a store on one host only."""
    return url.lower().startswith("sqlite") or local_file(url) is not None


def store_setting(variable: str, url: str, source: str, from_env: bool) -> StoreSetting:
    """The setting of `variable` for jobs on several nodes, given the URI `url` that
    `optuna-run` would use now (`source` says where it came from). With `from_env` no URI is
    written: the variable must be set when the script runs."""
    if from_env:
        return StoreSetting(variable, None, "--stores-from-env")
    if names_a_file(url):
        raise RenderError(
            f"{source}: {mask_url(url)} is a file on this host, and workers on several nodes "
            "cannot share a SQLite or journal file (over a network filesystem its locks "
            "break: optuna#6036); expected a database or tracking server (postgresql+psycopg://"
            f"..., http://...), given in the study file or as {variable} when rendering, or "
            f"--stores-from-env to take {STORAGE_VAR} and {TRACKING_VAR} from the environment "
            "when the script runs"
        )
    if holds_secret(url):
        return StoreSetting(variable, None, "its URI holds a password")
    return StoreSetting(variable, url, "")
