"""A secure deployment, for real on this machine: a PostgreSQL cluster of the test's own that
takes only TLS (tests/tls_postgres.py), `mlflow server --app-name basic-auth` (MLflow's own
authentication) with its backend store and its users on that cluster, and the storage proxy
with TLS, client certificates and a bearer token in front of it. Every secret is planted,
distinct, and looked for wherever it must not be: the output of every process, the command
lines of the running ones, the stores, the artifacts, and the server's log."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna
import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient

from tests.helpers import (
    BIN,
    assert_exact_study,
    finish,
    free_port,
    get_json,
    serving,
    start,
    tree,
    write_study,
)
from tests.search.proxies import proxy_running
from tests.tls import Pki, make_pki
from tests.tls_postgres import TlsPostgres, tls_postgres

pytestmark = pytest.mark.slow

PG_PASSWORD = "planted-PG-Password-1d4f"
ADMIN_PASSWORD = "planted-MLflow-Admin-7c2e"
WORKER_PASSWORD = "planted-MLflow-Worker-93ab"
READER_PASSWORD = "planted-MLflow-Reader-5e10"
FLASK_KEY = "planted-Flask-Key-20c7"
PROXY_TOKEN = "planted-Proxy-Token-8b31"
SECRETS = (PG_PASSWORD, ADMIN_PASSWORD, WORKER_PASSWORD, READER_PASSWORD, FLASK_KEY, PROXY_TOKEN)


@dataclass(frozen=True)
class Deployment:
    pki: Pki
    pg: TlsPostgres
    mlflow_uri: str
    mlflow_log: Path
    mlflow_server: subprocess.Popen[bytes]
    artifacts: Path
    secrets: Path  # a folder of secret files, as a Kubernetes Secret volume mounts them


def secret_file(folder: Path, name: str, value: str) -> Path:
    path = folder / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("secure")
    pki = make_pki(root / "pki")
    secrets = root / "secrets"
    secrets.mkdir(mode=0o700)
    for name, value in (
        ("pg-password", PG_PASSWORD),
        ("mlflow-worker-password", WORKER_PASSWORD),
        ("mlflow-reader-password", READER_PASSWORD),
        ("proxy-token", PROXY_TOKEN),
    ):
        secret_file(secrets, name, value)
    databases = ("optuna", "mlflow", "mlflow_auth", "optuna_refused")
    with tls_postgres(pki, PG_PASSWORD, databases) as pg:
        config = root / "basic_auth.ini"
        config.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {pg.url('mlflow_auth')}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        artifacts = root / "artifacts"
        command = [str(BIN / "mlflow"), "server", "--app-name", "basic-auth",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                   "--backend-store-uri", pg.url("mlflow"),
                   "--artifacts-destination", str(artifacts)]  # fmt: skip
        env = {
            "PGPASSWORD": PG_PASSWORD,  # libpq's own: never in a URL or on argv
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": FLASK_KEY,
        }
        log = root / "mlflow.log"
        with serving(command, f"{uri}/health", log, timeout=180, env=env) as server:
            _create_users(uri)
            yield Deployment(pki, pg, uri, log, server, artifacts, secrets)


def _create_users(uri: str) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    with environment(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD):
        admin = AuthServiceClient(uri)
        admin.create_user("worker", WORKER_PASSWORD)
        admin.create_user("reader", READER_PASSWORD)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """This process's environment with `values` set, as it was afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def as_admin() -> contextlib.AbstractContextManager[None]:
    """This process reads the stores as their admin: MLflow's admin, PostgreSQL's password."""
    return environment(
        MLFLOW_TRACKING_USERNAME="admin",
        MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD,
        PGPASSWORD=PG_PASSWORD,
    )


def worker_env(d: Deployment, user: str = "worker") -> dict[str, str]:
    """What a worker is given: MLflow's user and a password file; nothing on its argv."""
    return {
        "MLFLOW_TRACKING_URI": d.mlflow_uri,
        "MLFLOW_TRACKING_USERNAME": user,
        "MLFLOW_TRACKING_PASSWORD_FILE": str(d.secrets / f"mlflow-{user}-password"),
        "TF_NUM_INTRAOP_THREADS": "1",
    }


def assert_no_secret(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret} found in {where}"


def test_postgres_takes_only_verified_tls_and_a_wrong_ca_is_one_line(
    tmp_path: Path, deployment: Deployment
) -> None:
    from fashion_models.search.storages import build_storage, study_claim_lock

    pg, pki = deployment.pg, deployment.pki
    with environment(PGPASSWORD=PG_PASSWORD):  # this process's libpq, as a worker's
        # The Optuna storage and the claim lock's connections, with sslmode=verify-full.
        url = pg.url("optuna")
        storage = build_storage(url)
        lock = study_claim_lock(storage, url, "tiny")
        assert lock.try_acquire()
        lock.release()
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            ssl = connection.exec_driver_sql(
                "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
                "WHERE datname = 'optuna'"
            )
            assert ssl.scalar() is True
        engine.dispose()
        plaintext = sqlalchemy.create_engine(url.replace("verify-full", "disable"))
        with pytest.raises(sqlalchemy.exc.OperationalError, match="no encryption"):
            plaintext.connect()

    # A worker given the wrong CA: one line, exit 1, for the Optuna storage and for MLflow's
    # backend store alike, and nothing written.
    wrong = pg.url("optuna_refused", ca=pki.other_ca)
    path = write_study(tmp_path)
    before = tree(tmp_path)
    for env in ({"OPTUNA_STORAGE": wrong}, {"MLFLOW_TRACKING_URI": wrong}):
        code, out = finish(start(path, env={**env, "PGPASSWORD": PG_PASSWORD}), timeout=120)
        assert code == 1, out
        [line] = out.strip().splitlines()
        assert line.startswith("error: cannot reach the database postgresql+psycopg://postgres@")
        assert line.endswith("certificate verify failed"), line
        assert_no_secret("the refusal", out)
    assert tree(tmp_path) == before


def test_a_worker_with_wrong_mlflow_credentials_stops_in_one_line_with_nothing_written(
    tmp_path: Path, deployment: Deployment
) -> None:
    path = write_study(tmp_path, name="refused")
    before = tree(tmp_path)
    wrong = secret_file(tmp_path.parent, "wrong-password", "not-the-password")
    for env, who in (
        ({**worker_env(deployment), "MLFLOW_TRACKING_PASSWORD_FILE": str(wrong)}, "user 'worker'"),
        ({"MLFLOW_TRACKING_URI": deployment.mlflow_uri}, "this worker, which sent no credentials"),
    ):
        code, out = finish(start(path, env=env), timeout=120)
        assert code == 1, out
        assert out.strip() == (
            f"error: the MLflow server at {deployment.mlflow_uri} refused {who}: expected "
            "MLflow's credentials in $MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD "
            "(or $MLFLOW_TRACKING_PASSWORD_FILE), or $MLFLOW_TRACKING_TOKEN"
        )
    assert tree(tmp_path) == before  # no Optuna study (its SQLite file) was made
    experiments = get_json(
        f"{deployment.mlflow_uri}/api/2.0/mlflow/experiments/search?max_results=100",
        auth=("admin", ADMIN_PASSWORD),
    )
    assert "refused" not in {e["name"] for e in experiments.get("experiments", [])}


def test_the_secure_deployment_runs_a_study_with_no_secret_anywhere(
    tmp_path: Path, deployment: Deployment
) -> None:
    # Three workers through the proxy (TLS, client certificates, a token) on PostgreSQL over
    # TLS, logging to the authenticated MLflow server: exactly n_trials trials, each with one
    # closed run; then a read-only user can look but not write.
    d, pki = deployment, deployment.pki
    path = write_study(tmp_path, n_trials=4)
    proxy_env = {
        "PGPASSWORD": PG_PASSWORD,
        "OPTUNA_PROXY_TOKEN_FILE": str(d.secrets / "proxy-token"),
    }
    tls = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
           "--client-ca", str(pki.ca)]  # fmt: skip
    with proxy_running(d.pg.url("optuna"), None, *tls, env=proxy_env) as proxy:
        env = {
            **worker_env(d),
            "OPTUNA_STORAGE": proxy.address,
            "OPTUNA_PROXY_TOKEN_FILE": str(d.secrets / "proxy-token"),
            "OPTUNA_PROXY_CA_FILE": str(pki.ca),
            "OPTUNA_PROXY_CLIENT_CERT_FILE": str(pki.client_cert),
            "OPTUNA_PROXY_CLIENT_KEY_FILE": str(pki.client_key),
        }
        workers = [start(path, env=env) for _ in range(3)]
        cmdlines = _sample_cmdlines([w.pid for w in workers], while_running=workers)
        cmdlines += [_cmdline(proxy.process.pid), _cmdline(d.mlflow_server.pid)]
        results = [finish(worker, timeout=900) for worker in workers]  # 2 cores, 3 workers

        reader = {**env, **worker_env(d, user="reader")}
        status = subprocess.run(
            [str(BIN / "optuna-run"), "status", str(path)],
            env={**os.environ, **reader}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        code, refused = finish(start(path, env=reader), timeout=120)
        assert proxy.stop() == 143
        proxy_output = proxy.output

    for code_, out in results:
        assert code_ == 0, out
        assert_no_secret("a worker's output", out)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "study 'tiny': 4 complete" in status.stdout, status.stdout
    # What the MLflow UI asks for the experiment's page, as the reader.
    seen = get_json(
        f"{d.mlflow_uri}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny",
        auth=("reader", READER_PASSWORD),
    )
    assert seen["experiment"]["name"] == "tiny"
    assert code == 1, refused
    assert refused.strip() == (
        f"error: the MLflow server at {d.mlflow_uri} lets user 'reader' only READ experiment "
        "'tiny': a worker logs its runs there, which takes EDIT or MANAGE (`optuna-run status` "
        "and the MLflow UI need no more than READ)"
    )

    with as_admin():
        mlflow.set_tracking_uri(d.mlflow_uri)
        client = MlflowClient(d.mlflow_uri)
        study = optuna.load_study(study_name="tiny", storage=d.pg.url("optuna"))
        assert_exact_study(study, 4, client)
        experiment = client.get_experiment_by_name("tiny")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        assert runs and all(r.info.status == "FINISHED" for r in runs)
        versions = client.search_model_versions("name = 'tiny-model'")
        assert len(versions) == 1

    # Nowhere a secret: outputs, argv, the stores, the artifacts, the server's log.
    assert_no_secret("the proxy's output", proxy_output)
    assert_no_secret("the reader's status", status.stdout + status.stderr)
    for line in cmdlines:
        assert_no_secret("a command line", line)
    for run in runs:
        assert_no_secret(f"run {run.info.run_name}", repr(run.data.params) + repr(run.data.tags))
    assert_no_secret("the study's attrs", repr(study.user_attrs))  # and every row: _dump
    for trial in study.trials:
        assert_no_secret("a trial's attrs", repr(trial.user_attrs) + repr(trial.system_attrs))
    for file in d.artifacts.rglob("*"):
        if file.is_file():
            assert_no_secret(str(file), file.read_bytes())
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert_no_secret(str(file), file.read_bytes())
    for version in versions:
        assert_no_secret("the registered version", repr(version.tags) + repr(version.source))
    assert_no_secret("the MLflow server's log", d.mlflow_log.read_bytes())
    assert_no_secret("the databases", _dump(d.pg))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _sample_cmdlines(
    pids: list[int], while_running: list[subprocess.Popen[str]], seconds: float = 20
) -> list[bytes]:
    """The argv of the workers and of every process they start (their --as-worker children),
    read from /proc while they run."""
    seen: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(w.poll() is None for w in while_running):
        for pid in _descendants(pids):
            seen.append(_cmdline(pid))
        time.sleep(0.5)
    return seen


def _descendants(pids: list[int]) -> list[int]:
    found, frontier = list(pids), list(pids)
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += [int(c) for c in children]
        frontier += [int(c) for c in children]
    return found


def _dump(pg: TlsPostgres) -> bytes:
    """Every row of the Optuna and MLflow databases, as text."""
    import psycopg

    out: list[str] = []
    for database in ("optuna", "mlflow"):
        with psycopg.connect(pg.libpq(database), password=PG_PASSWORD) as connection:
            tables = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            for (table,) in tables:
                for row in connection.execute(f'SELECT * FROM "{table}"'):
                    out.append(repr(row))
    return "\n".join(out).encode()
