"""Tests for fashion_models.search.proxy_security: real `optuna-run storage-proxy` processes
with TLS, client certificates (mTLS) and a bearer token, certificates made in the test
(tests/tls.py), and real clients: a worker with the right credentials gets in, claims,
heartbeats and a killed worker's recovery work through TLS, and every way of not getting in
is one line, at once, with the token never printed."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fashion_models.cli import main
from fashion_models.search.proxy_client import WAIT_SECONDS
from tests.helpers import (
    SLOW_CNN,
    assert_killed_trial_recovered,
    finish,
    load_study,
    mlflow_client,
    start,
    wait_for_running_trial,
    write_study,
)
from tests.search.proxies import Proxy, proxy_running
from tests.tls import Pki, make_pki

TOKEN = "planted-Proxy-Token-5150"
WRONG = "planted-Wrong-Token-0815"
WHERE = "error: the storage proxy at {address}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'optuna.db'}"


def tls_args(pki: Pki, mtls: bool = False) -> list[str]:
    args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    return [*args, "--client-ca", str(pki.ca)] if mtls else args


@pytest.fixture(scope="module")
def token_proxy(pki: Pki, store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """TLS and a bearer token, which the proxy reads from a file (a Secret volume's way)."""
    token_file = tmp_path_factory.mktemp("secret") / "token"
    token_file.write_text(TOKEN + "\n")
    env = {"OPTUNA_PROXY_TOKEN_FILE": str(token_file)}
    with proxy_running(store, None, *tls_args(pki), env=env) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def mtls_proxy(pki: Pki, store: str) -> Iterator[Proxy]:
    with proxy_running(store, None, *tls_args(pki, mtls=True)) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def plain_proxy(store: str) -> Iterator[Proxy]:
    with proxy_running(store) as proxy:
        yield proxy


def status(path: Path, env: dict[str, str | None]) -> tuple[int, str, float]:
    """`optuna-run status` of the study at `path`, in this process, with `env` (and none of
    the proxy client's variables that `env` does not set)."""
    clean: dict[str, str | None] = {
        "OPTUNA_PROXY_TOKEN": None,
        "OPTUNA_PROXY_TOKEN_FILE": None,
        "OPTUNA_PROXY_CA_FILE": None,
        "OPTUNA_PROXY_CLIENT_CERT_FILE": None,
        "OPTUNA_PROXY_CLIENT_KEY_FILE": None,
        "MLFLOW_TRACKING_URI": None,
    }
    started = time.monotonic()
    result = CliRunner(env={**clean, **env}).invoke(main, ["status", str(path)])
    return result.exit_code, result.output, time.monotonic() - started


def test_the_proxys_first_line_says_what_a_worker_needs(
    token_proxy: Proxy, mtls_proxy: Proxy, plain_proxy: Proxy
) -> None:
    port = token_proxy.address.rsplit(":", 1)[1]
    assert f"(TLS + a bearer token): workers join with storage: grpcs://127.0.0.1:{port}" in (
        token_proxy.output
    )
    assert "(TLS + client certificates): workers join with storage: grpcs://" in (mtls_proxy.output)
    assert "(plaintext, no authentication: serve a private network only)" in plain_proxy.output
    assert TOKEN not in token_proxy.output


def test_a_worker_with_the_ca_and_the_token_gets_in(
    tmp_path: Path, pki: Pki, token_proxy: Proxy
) -> None:
    path = write_study(tmp_path)
    env = {"OPTUNA_STORAGE": token_proxy.address, "OPTUNA_PROXY_CA_FILE": str(pki.ca)}
    code, out, _ = status(path, {**env, "OPTUNA_PROXY_TOKEN": TOKEN})
    # In: the study is simply not there yet (status creates nothing).
    assert code == 2 and "no study 'tiny'" in out, out
    assert TOKEN not in out


@pytest.mark.parametrize(
    ("proxy_name", "env", "scheme", "code", "says"),
    [
        (
            "token_proxy",
            {"OPTUNA_PROXY_CA_FILE": "ca"},
            "grpcs",
            1,
            "refused this worker: this call carries no bearer token (expected the proxy's "
            "token in $OPTUNA_PROXY_TOKEN or $OPTUNA_PROXY_TOKEN_FILE)",
        ),
        (
            "token_proxy",
            {"OPTUNA_PROXY_CA_FILE": "ca", "OPTUNA_PROXY_TOKEN": WRONG},
            "grpcs",
            1,
            "refused this worker: this call's bearer token is wrong (expected the proxy's "
            "token in $OPTUNA_PROXY_TOKEN or $OPTUNA_PROXY_TOKEN_FILE)",
        ),
        (
            "token_proxy",
            {"OPTUNA_PROXY_CA_FILE": "other_ca", "OPTUNA_PROXY_TOKEN": TOKEN},
            "grpcs",
            1,
            "was refused by this worker: its certificate is not one the CA in "
            "$OPTUNA_PROXY_CA_FILE (or the system's CAs) signed for that host",
        ),
        (
            "token_proxy",  # no CA file: the system's CAs, which never signed it
            {"OPTUNA_PROXY_TOKEN": TOKEN},
            "grpcs",
            1,
            "was refused by this worker: its certificate is not one the CA in "
            "$OPTUNA_PROXY_CA_FILE (or the system's CAs) signed for that host",
        ),
        (
            "token_proxy",
            {},
            "grpc",
            1,
            "closed the connection: if it serves TLS, expected grpcs://",
        ),
        (
            "mtls_proxy",
            {"OPTUNA_PROXY_CA_FILE": "ca"},
            "grpcs",
            1,
            "closed the TLS connection: it may require a client certificate (expected "
            "$OPTUNA_PROXY_CLIENT_CERT_FILE and $OPTUNA_PROXY_CLIENT_KEY_FILE)",
        ),
        (
            "plain_proxy",
            {"OPTUNA_PROXY_CA_FILE": "ca"},
            "grpcs",
            1,
            "does not speak TLS: expected grpc:// for a plaintext proxy",
        ),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "untrusted-ca",
        "system-cas",
        "plaintext-to-tls",
        "no-client-certificate",
        "tls-to-plaintext",
    ],
)
def test_a_worker_that_may_not_get_in_is_told_why_in_one_line_at_once(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pki: Pki,
    proxy_name: str,
    env: dict[str, str],
    scheme: str,
    code: int,
    says: str,
) -> None:
    proxy: Proxy = request.getfixturevalue(proxy_name)
    address = f"{scheme}://{proxy.address.split('://', 1)[1]}"
    files = {"ca": str(pki.ca), "other_ca": str(pki.other_ca)}
    environment: dict[str, str | None] = {
        name: files.get(value, value) for name, value in env.items()
    }
    path = write_study(tmp_path)
    exit_code, out, seconds = status(path, {**environment, "OPTUNA_STORAGE": address})
    assert exit_code == code, out
    assert out.strip() == f"{WHERE.format(address=address)} {says}"
    assert seconds < WAIT_SECONDS / 2  # refused, not waited out
    assert TOKEN not in out and WRONG not in out


def test_a_worker_with_its_client_certificate_gets_in(
    tmp_path: Path, pki: Pki, mtls_proxy: Proxy
) -> None:
    env: dict[str, str | None] = {
        "OPTUNA_STORAGE": mtls_proxy.address,
        "OPTUNA_PROXY_CA_FILE": str(pki.ca),
        "OPTUNA_PROXY_CLIENT_CERT_FILE": str(pki.client_cert),
        "OPTUNA_PROXY_CLIENT_KEY_FILE": str(pki.client_key),
    }
    code, out, _ = status(write_study(tmp_path), env)
    assert code == 2 and "no study 'tiny'" in out, out


def test_a_token_never_crosses_a_plaintext_connection(tmp_path: Path, plain_proxy: Proxy) -> None:
    env: dict[str, str | None] = {
        "OPTUNA_STORAGE": plain_proxy.address,
        "OPTUNA_PROXY_TOKEN": TOKEN,
    }
    code, out, _ = status(write_study(tmp_path), env)
    assert code == 2, out
    assert out.strip() == (
        f"error: $OPTUNA_PROXY_TOKEN is set but the storage {plain_proxy.address} is plaintext: "
        "a token must not cross the network in clear; expected grpcs://"
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--tls-cert", "{server_cert}"], {}, "--tls-cert and --tls-key go together"),
        ([], {"OPTUNA_PROXY_TOKEN": TOKEN}, "$OPTUNA_PROXY_TOKEN is set but the proxy has no TLS"),
        (["--client-ca", "{ca}"], {}, "--client-ca needs TLS"),
        (
            ["--tls-cert", "{server_key}", "--tls-key", "{server_key}"],
            {},
            "--tls-cert: {server_key} holds no PEM certificate",
        ),
        (
            ["--tls-cert", "{server_cert}", "--tls-key", "{server_cert}.missing"],
            {},
            "--tls-key: cannot read {server_cert}.missing: No such file or directory",
        ),
        (
            ["--tls-cert", "{server_cert}", "--tls-key", "{server_key}"],
            {"OPTUNA_PROXY_TOKEN": TOKEN, "OPTUNA_PROXY_TOKEN_FILE": "{ca}"},
            "both $OPTUNA_PROXY_TOKEN and $OPTUNA_PROXY_TOKEN_FILE are set",
        ),
    ],
    ids=["half-pair", "token-without-tls", "client-ca-without-tls", "not-pem", "no-key", "two"],
)
def test_a_proxy_started_with_half_its_security_is_one_line_and_exit_2(
    pki: Pki, store: str, args: list[str], env: dict[str, str], says: str
) -> None:
    files = {name: str(getattr(pki, name)) for name in ("server_cert", "server_key", "ca")}
    argv = ["storage-proxy", "--port", "5000", *(a.format(**files) for a in args)]
    environment = {"OPTUNA_PROXY_STORAGE": store, **{k: v.format(**files) for k, v in env.items()}}
    result = CliRunner(env=environment).invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {says.format(**files)}"), result.output
    assert len(result.output.strip().splitlines()) == 1 and TOKEN not in result.output


@pytest.mark.slow
def test_claims_heartbeats_and_recovery_work_through_tls_mtls_and_a_token(
    tmp_path: Path, pki: Pki, pg_url: str
) -> None:
    # The secured proxy in front of PostgreSQL: a worker killed mid-trial stops its heartbeats
    # (recorded through the proxy), and the next worker, which takes the study's claim lock
    # through it too, fails that trial and runs it again.
    path = write_study(
        tmp_path,
        n_trials=2,
        space=SLOW_CNN,
        extra="workers: {heartbeat_interval: 1, grace_period: 3}",
    )
    env = {"OPTUNA_PROXY_TOKEN": TOKEN}
    with proxy_running(pg_url, None, *tls_args(pki, mtls=True), env=env) as proxy:
        worker_env = {
            **env,
            "OPTUNA_STORAGE": proxy.address,
            "OPTUNA_PROXY_CA_FILE": str(pki.ca),
            "OPTUNA_PROXY_CLIENT_CERT_FILE": str(pki.client_cert),
            "OPTUNA_PROXY_CLIENT_KEY_FILE": str(pki.client_key),
        }
        worker = start(path, env=worker_env)
        number = wait_for_running_trial(pg_url, worker)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        code, out = finish(start(path, env=worker_env))
        assert proxy.stop() == 143
    assert code == 0, out
    assert TOKEN not in out and TOKEN not in proxy.output
    assert_killed_trial_recovered(load_study(pg_url), mlflow_client(tmp_path), number, n_trials=2)
