"""Tests for fashion_models.config.secrets: storage and tracking URIs shown without their
password, and free text scrubbed of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.config.secrets import (
    has_password,
    http_credentials,
    mask_url,
    read_secret,
    scrub,
)
from fashion_models.errors import UserError


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


def test_a_secret_comes_from_its_variable_or_the_file_its_file_variable_names(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-from-a-file\n")  # as `kubectl create secret --from-file` keeps it
    assert read_secret("TOKEN", {"TOKEN": "s3cret"}) == "s3cret"
    assert read_secret("TOKEN", {"TOKEN_FILE": str(secret)}) == "s3cret-from-a-file"
    assert read_secret("TOKEN", {}) is None
    assert read_secret("TOKEN", {"TOKEN": ""}) is None


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"TOKEN": "s3cret", "TOKEN_FILE": "x"}, "both $TOKEN and $TOKEN_FILE are set"),
        ({"TOKEN_FILE": "{missing}"}, "$TOKEN_FILE: cannot read {missing}: No such file"),
        ({"TOKEN_FILE": "{empty}"}, "$TOKEN_FILE: {empty} is empty: expected the secret"),
    ],
)
def test_a_secret_that_cannot_be_read_is_one_line_without_it(
    tmp_path: Path, environ: dict[str, str], says: str
) -> None:
    files = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path / "empty")}
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UserError) as error:
        read_secret("TOKEN", {k: v.format(**files) for k, v in environ.items()})
    assert str(error.value).startswith(says.format(**files))
    assert "s3cret" not in str(error.value)


def test_has_password() -> None:
    assert has_password("postgresql+psycopg://user:pw@db/optuna")
    assert has_password("https://user:pw@mlflow.example")
    assert not has_password("postgresql+psycopg://user@db/optuna")
    assert not has_password("sqlite:///mlruns/optuna.db")
    assert not has_password("grpcs://proxy:13000")
