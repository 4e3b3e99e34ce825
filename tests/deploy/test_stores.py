"""fashion_models.deploy.stores: which URIs hold a secret, which name a file on one host, and
what a rendered script may carry of each (a table of URI -> answer)."""

from __future__ import annotations

import pytest

from fashion_models.deploy.plan import RenderError
from fashion_models.deploy.stores import StoreSetting, holds_secret, names_a_file, store_setting


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql+psycopg://u:pw@db:5432/optuna", True),
        ("postgresql+psycopg://u:p%40ss@db/optuna", True),
        ("postgresql+psycopg://u:@db/optuna", True),  # an empty password is still one
        ("postgresql+psycopg://u@db/optuna?password=pw", True),  # libpq reads it from the query
        ("http://me:pw@mlflow:5000", True),
        ("https://mlflow.example/?token=abc", True),
        ("postgresql+psycopg://u@db:5432/optuna", False),
        ("postgresql+psycopg://db/optuna?sslmode=require", False),
        ("http://mlflow:5000", False),
        ("grpc://proxy:13000", False),
        ("sqlite:///mlruns/optuna.db", False),
        ("mlruns/journal.log", False),
    ],
)
def test_holds_secret(url: str, secret: bool) -> None:
    assert holds_secret(url) is secret


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///mlruns/optuna.db", True),
        ("sqlite:////shared/optuna.db", True),
        ("sqlite://", True),  # in memory: on one host as well
        ("SQLite+pysqlite:///x.db", True),
        ("mlruns/journal.log", True),
        ("postgresql+psycopg://u@db/optuna", False),
        ("http://mlflow:5000", False),
        ("grpc://proxy:13000", False),
    ],
)
def test_names_a_file(url: str, file: bool) -> None:
    assert names_a_file(url) is file


def test_store_setting() -> None:
    var = "OPTUNA_STORAGE"
    server = "postgresql+psycopg://u@db/optuna"
    assert store_setting(var, server, "f: storage", False) == StoreSetting(var, server)
    secret = store_setting(var, "postgresql+psycopg://u:pw@db/optuna", "f: storage", False)
    assert secret == StoreSetting(var, None, "its URI holds a password")
    from_env = store_setting(var, "sqlite:///x.db", "f: storage", True)
    assert from_env == StoreSetting(var, None, "--stores-from-env")
    with pytest.raises(RenderError, match=r"^f: storage: sqlite:///x.db is a file on this host"):
        store_setting(var, "sqlite:///x.db", "f: storage", False)
