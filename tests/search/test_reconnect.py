"""Tests for fashion_models.search.reconnect: a worker rides out a restart of the PostgreSQL
server its storage lives on (the real local server, stopped and started by the test in the
middle of a trial), and stops with one line past its bound."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import (
    SLOW_CNN,
    assert_exact_study,
    failed,
    finish,
    load_study,
    mlflow_client,
    start,
    wait_for_running_trial,
    write_study,
)

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 6  # longer than a trial's epoch: the bookkeeping meets the outage


def _cluster() -> list[str]:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


def _wait_until_ready(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.5)


@contextmanager
def _postgresql_down() -> Iterator[None]:
    """Stop the local PostgreSQL server (fast: connections are cut) for the block; it is
    started again whatever happens, and waited for."""
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("no local PostgreSQL cluster to restart")
    subprocess.run([*_cluster(), "stop", "-m", "fast"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([*_cluster(), "start"], check=True, capture_output=True)
        _wait_until_ready()


def test_workers_ride_out_a_postgresql_restart_within_their_bound(
    tmp_path: Path, pg_url: str, pg_databases: Callable[[], str]
) -> None:
    # Two workers on two studies meet the same outage: one with the default bound rides it
    # out; one whose bound (2 s) is shorter than the outage stops, with one line. Heartbeats
    # every second: the heartbeat thread meets the outage for certain, as do the epoch
    # reports and the trial's bookkeeping.
    patient_dir, hasty_dir = tmp_path / "patient", tmp_path / "hasty"
    patient_dir.mkdir()
    hasty_dir.mkdir()
    beat = "workers: {heartbeat_interval: 1, grace_period: 60"
    patient = write_study(patient_dir, n_trials=2, space=SLOW_CNN, extra=beat + "}")
    hasty = write_study(
        hasty_dir, n_trials=2, space=SLOW_CNN, extra=beat + ", storage_retry_seconds: 2}"
    )
    hasty_url = pg_databases()
    one_thread = {"TF_NUM_INTRAOP_THREADS": "1"}
    worker = start(patient, env={"OPTUNA_STORAGE": pg_url, **one_thread})
    stopping = start(hasty, env={"OPTUNA_STORAGE": hasty_url, **one_thread})
    number = wait_for_running_trial(pg_url, worker)
    wait_for_running_trial(hasty_url, stopping)
    with _postgresql_down():
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, "the worker stopped while the database was down"

    code, out = finish(worker)
    assert code == 0, out
    study = load_study(pg_url)
    assert_exact_study(study, 2, mlflow_client(patient_dir))
    assert not failed(study), out  # the trial that was training was not lost
    assert study.trials[number].state.name == "COMPLETE"

    code, out = finish(stopping)
    assert code == 1, out
    assert "Traceback" not in out, out
    last = out.strip().splitlines()[-1]
    masked = hasty_url.removeprefix("postgresql+psycopg://")
    assert last.startswith(f"error: lost the Optuna storage postgresql+psycopg://{masked}: "), out
    assert "(workers.storage_retry_seconds = 2)" in last
    assert re.search(r"no connection for [2-9]s", last), last


def test_the_storage_cache_rides_out_a_restart(pg_url: str) -> None:
    # The calls Optuna's storage cache makes on its own (reading the trials when a worker
    # claims one, creating the trial, writing its params, finding the best) meet an outage:
    # they wait for the server and go on, as the public calls do.
    import optuna

    from fashion_models.search.storages import build_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="cache", storage=build_storage(pg_url))
    study.optimize(lambda t: 1 + t.suggest_float("x", 0, 1), n_trials=1)  # cached: trial 0
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("no local PostgreSQL cluster to restart")
    subprocess.run([*_cluster(), "stop", "-m", "fast"], check=True, capture_output=True)
    restart = threading.Timer(3.0, subprocess.run, ([*_cluster(), "start"],), {"check": True})
    restart.start()
    try:
        started = time.monotonic()
        trial = study.ask()  # reads the trials, then creates one: both wait for the server
        waited = time.monotonic() - started
        trial.suggest_float("x", 0, 1)
        study.tell(trial, 0.25)
        assert study.best_trial.number == trial.number
    finally:
        restart.join()
        _wait_until_ready()
    assert waited >= 2.0  # it did meet the outage
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "COMPLETE"]
