"""Tests for fashion_models.config.secrets: storage and tracking URIs shown without their
password, and free text scrubbed of them."""

from __future__ import annotations

import pytest

from fashion_models.config.secrets import http_credentials, mask_url, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://optuna:s3cr%40t@db:5432/optuna", "postgresql+psycopg://optuna:***@db:5432/optuna"),
        ("postgresql+psycopg://optuna@db/optuna", "postgresql+psycopg://optuna@db/optuna"),
        ("mysql+pymysql://u:p@h/db?charset=utf8", "mysql+pymysql://u:***@h/db?charset=utf8"),
        ("sqlite:///mlruns/optuna.db", "sqlite:///mlruns/optuna.db"),
        ("mlruns/journal.log", "mlruns/journal.log"),
        ("http://user:pa:ss@tracking:5000", "http://user:***@tracking:5000"),
        ("https://user:secret@tracking/mlflow", "https://user:***@tracking/mlflow"),
        ("http://tracking:5000", "http://tracking:5000"),
        ("databricks://profile", "databricks://profile"),
    ],
)  # fmt: skip
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_scrub_masks_every_url_and_the_given_passwords() -> None:
    url = "postgresql+psycopg://u:p%40ss@h/db"
    text = f"cannot reach {url}; also http://a:b@c:1/x; password p@ss was refused"
    assert scrub(text, url) == (
        "cannot reach postgresql+psycopg://u:***@h/db; also http://a:***@c:1/x; "
        "password *** was refused"
    )


def test_http_credentials_leave_the_uri() -> None:
    assert http_credentials("http://fm%20user:p%40ss@host:5000/x") == (
        "http://host:5000/x",
        "fm user",
        "p@ss",
    )
    assert http_credentials("http://host:5000") == ("http://host:5000", None, None)
    assert http_credentials("sqlite:///a.db") == ("sqlite:///a.db", None, None)
