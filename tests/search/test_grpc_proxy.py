"""Tests for fashion_models.search.proxy and proxy_client: a real `optuna-run storage-proxy`
process in front of a fresh PostgreSQL database, real `optuna-run` workers through it (the
study's claim lock, heartbeats and a killed worker's recovery, the connections the database
sees), and the one-line errors of bad addresses and of a proxy that is not there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from fashion_models.cli import main
from fashion_models.search.proxy import THREADS
from tests.helpers import (
    assert_exact_study,
    cli_env,
    finish,
    free_port,
    load_study,
    mlflow_client,
    pg_connections,
    start,
    tree,
    write_study,
)
from tests.search.proxies import Proxy, proxy_running

pytestmark = pytest.mark.slow

SECRET = "planted-Proxy-Secret-4711"  # trust auth: the server never asks for it
FAST_HEARTBEAT = "workers: {heartbeat_interval: 1, grace_period: 3}"


def with_password(url: str) -> str:
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def connection_name(pid: int) -> str:
    """The application_name a process's connections carry (search/connections.py)."""
    return f"optuna-run {pid}@{socket.gethostname()}"[:63]


@contextmanager
def running_proxy(pg_url: str, port: int | None = None) -> Iterator[Proxy]:
    with proxy_running(with_password(pg_url), port) as proxy:
        yield proxy


def test_three_workers_through_the_proxy_share_the_study_exactly(
    tmp_path: Path, pg_url: str
) -> None:
    # Three shells at once against an empty database, through one proxy: the schema is the
    # proxy's, the study, the worker indexes and every trial's slot are taken under the
    # study's claim lock, which the proxy holds for one worker at a time.
    path = write_study(tmp_path, n_trials=5)
    with running_proxy(pg_url) as proxy, pg_connections(pg_url) as samples:
        env = {"OPTUNA_STORAGE": proxy.address, "TF_NUM_INTRAOP_THREADS": "1"}
        workers = [start(path, env=env) for _ in range(3)]
        results = [finish(worker) for worker in workers]
        assert proxy.stop() == 143, proxy.output
    for code, out in results:
        assert code == 0, out
        assert "Traceback" not in out and SECRET not in out

    study = load_study(pg_url)
    client = mlflow_client(tmp_path)
    assert_exact_study(study, 5, client)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5
    assert len(client.search_model_versions("name = 'tiny-model'")) == 1
    # Every trial sent heartbeats, through the proxy into the database.
    with sqlalchemy.create_engine(pg_url).connect() as connection:
        beating = connection.execute(sqlalchemy.text("SELECT count(*) FROM trial_heartbeats"))
        assert beating.scalar() == 5

    # The database saw the proxy's connections only, never more than its threads.
    assert samples and max(sum(s.values()) for s in samples) >= 1
    assert {name for s in samples for name in s} == {connection_name(proxy.process.pid)}
    assert max(sum(s.values()) for s in samples) <= THREADS
    print(f"\nproxy connections: at most {max(sum(s.values()) for s in samples)}")

    first, *rest = proxy.output.splitlines()
    assert first.startswith("storage proxy for postgresql+psycopg://postgres:***@127.0.0.1")
    assert f"storage: {proxy.address}" in first
    assert rest == [
        "interrupted (interrupted by SIGTERM): the study is kept; "
        "run the same command again to continue"
    ]
    assert SECRET not in proxy.output


def test_calls_ride_out_a_proxy_restart_within_their_bound(pg_url: str) -> None:
    import optuna

    from fashion_models.config.sections import WorkersSection
    from fashion_models.errors import StoreError
    from fashion_models.search.storages import build_storage

    port = free_port()
    with running_proxy(pg_url, port) as proxy:
        address = proxy.address
        patient = build_storage(address, WorkersSection(storage_retry_seconds=120))
        study = optuna.create_study(storage=patient, study_name="tiny")
        assert proxy.stop() == 143
    with running_proxy(pg_url, port) as proxy:  # the call below waits while it starts
        study.set_user_attr("written", "after the restart")
        assert load_study(pg_url).user_attrs == {"written": "after the restart"}

        hasty = build_storage(address, WorkersSection(storage_retry_seconds=2))
        assert proxy.stop() == 143
    with pytest.raises(StoreError) as lost:
        hasty.get_study_id_from_name("tiny")
    assert str(lost.value).startswith(
        f"lost the Optuna storage {address}: no connection for 2s "
        "(workers.storage_retry_seconds = 2); last error: UNAVAILABLE: "
    )
    assert len(str(lost.value).splitlines()) == 1


HOLDER = """
import sys, time
from fashion_models.search.storages import build_storage, study_claim_lock
url = sys.argv[1]
lock = study_claim_lock(build_storage(url), url, "tiny")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_the_claim_lock_is_the_databases_and_dies_with_its_holder(pg_url: str) -> None:
    from fashion_models.search.claims import AdvisoryLock
    from fashion_models.search.storages import build_storage, study_claim_lock

    with running_proxy(pg_url) as proxy:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, proxy.address],
            env={**cli_env(), "PYTHONPATH": os.pathsep.join(sys.path)},
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            other = study_claim_lock(build_storage(proxy.address), proxy.address, "tiny")
            engine = sqlalchemy.create_engine(pg_url)
            direct = AdvisoryLock(engine, "tiny")  # a worker on the database itself
            assert not other.try_acquire()
            assert not direct.try_acquire()

            holder.send_signal(signal.SIGKILL)  # no release: the connection just closes
            holder.wait()
            deadline = time.monotonic() + 10
            while not other.try_acquire():
                assert time.monotonic() < deadline, "the dead holder's claim was not released"
                time.sleep(0.1)
            assert not direct.try_acquire()  # the proxy holds it for `other` now
            other.release()
            deadline = time.monotonic() + 10
            while not direct.try_acquire():
                assert time.monotonic() < deadline, "a released claim stayed taken"
                time.sleep(0.1)
            direct.release()
            engine.dispose()
        finally:
            holder.kill()
            holder.wait()


def run_in_process(*args: str, env: dict[str, str | None]) -> tuple[int, str]:
    result = CliRunner(env={"MLFLOW_TRACKING_URI": None, **env}).invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("grpc://127.0.0.1", "the port is missing"),
        ("grpc://127.0.0.1:70000", "the port must be a number from 1 to 65535"),
        ("grpc://:5000", "the host is missing"),
        ("grpc://proxy:5000/optuna", "nothing may follow the port"),
        (f"grpc://user:{SECRET}@proxy:5000", "a storage proxy takes no user or password"),
        ("grpc:/proxy:5000", "it must start with grpc:// or grpcs://"),
    ],
)
def test_a_malformed_proxy_address_is_one_line_and_exit_2(
    tmp_path: Path, address: str, why: str
) -> None:
    path = write_study(tmp_path)
    before = tree(tmp_path)
    code, out = run_in_process(str(path), env={"OPTUNA_STORAGE": address})
    assert code == 2
    expected = f"expected a storage proxy's grpc://HOST:PORT (grpcs:// over TLS): {why}, found "
    assert out.startswith(f"error: {path}: OPTUNA_STORAGE (environment): {expected}")
    assert len(out.strip().splitlines()) == 1 and SECRET not in out
    assert tree(tmp_path) == before

    # The same in the study file: its line and key.
    path.write_text(path.read_text().replace("storage: sqlite:", f"storage: {address}\n#"))
    code, out = run_in_process(str(path), env={"OPTUNA_STORAGE": None})
    assert code == 2
    assert out.startswith(f"error: {path}:3: storage: {expected}"), out
    assert tree(tmp_path) == before


def test_a_proxy_that_is_not_running_is_one_error_naming_it(tmp_path: Path) -> None:
    path = write_study(tmp_path)
    address = f"grpc://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, out = finish(start(path, env={"OPTUNA_STORAGE": address}), timeout=120)
    assert code == 1, out
    assert out.strip().splitlines() == [
        f"error: no storage proxy answers at {address} (waited 10s): start one there with "
        f"`optuna-run storage-proxy --storage URL --port {address.rsplit(':', 1)[1]}`, or "
        "fix the study's storage (or OPTUNA_STORAGE)"
    ]
    assert time.monotonic() - started < 90


@pytest.mark.parametrize(
    ("storage", "found"),
    [
        ("store/optuna.log", "'store/optuna.log'"),  # a journal file
        ("grpc://127.0.0.1:5000", "'grpc://127.0.0.1:5000'"),  # a proxy of a proxy
        (
            f"postgresql+nodriver://user:{SECRET}@db/optuna",
            "'postgresql+nodriver://user:***@db/optuna'",
        ),
    ],
)
def test_the_proxy_refuses_what_it_cannot_serve(storage: str, found: str) -> None:
    # Given on the command line, or in the environment (which keeps a password out of `ps`).
    for args, env in (
        (["--storage", storage.replace(SECRET, "")], {}),
        ([], {"OPTUNA_PROXY_STORAGE": storage}),
    ):
        code, out = run_in_process("storage-proxy", *args, "--port", "5000", env=env)
        assert code == 2, out
        assert out.startswith("error: --storage: expected the SQLAlchemy URL of a database")
        assert out.strip().endswith(f"found {found}")
        assert len(out.strip().splitlines()) == 1 and SECRET not in out


def test_the_proxy_on_a_port_in_use_is_one_error(pg_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = run_in_process(
            "storage-proxy",
            "--port",
            str(port),
            env={"OPTUNA_PROXY_STORAGE": with_password(pg_url)},
        )
    assert code == 1, out
    assert out.strip() == (
        f"error: cannot serve on 127.0.0.1:{port}: the port is in use, or 127.0.0.1 is not an "
        "address of this host"
    )
    engine = sqlalchemy.create_engine(pg_url)
    assert sqlalchemy.inspect(engine).get_table_names() == []  # found out before writing
    engine.dispose()


def test_a_password_on_the_proxys_command_line_is_refused_before_anything_starts(
    pg_url: str,
) -> None:
    # `ps` and /proc/PID/cmdline show argv to every user of the host: the URL with a password
    # belongs in $OPTUNA_PROXY_STORAGE (or the password in PGPASSWORD / a PGPASSFILE).
    port = free_port()
    code, out = run_in_process(
        "storage-proxy", "--storage", with_password(pg_url), "--port", str(port), env={}
    )
    assert code == 2, out
    assert out.strip() == (
        "error: --storage: the URL holds a password, which the command line shows to every user "
        "of this host: expected it in $OPTUNA_PROXY_STORAGE, or the password in PGPASSWORD or "
        "a PGPASSFILE"
    )
    with socket.socket() as probe:  # nothing listens
        assert probe.connect_ex(("127.0.0.1", port)) != 0
